//! Which listeners, connecters and links each vtx socket has, by the transport's slab
//! keys: what `unbind`, `disconnect`, `close` and linger look up.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::runtime::SocketId;
use crate::{Error, Result};

/// How a listener was named: the endpoint as bound (`tcp6://[::1]:5555`) and as the
/// application asked for it (`tcp6://localhost:*`); `unbind` accepts either.
#[derive(Clone, Debug, Default)]
pub struct BoundAs {
    /// The endpoint actually bound.
    pub bound: String,
    /// The endpoint as the application gave it.
    pub asked: String,
}

impl BoundAs {
    /// Whether `endpoint` names this listener.
    pub fn is(&self, endpoint: &str) -> bool {
        self.bound == endpoint || self.asked == endpoint
    }
}

/// One socket's entries.
#[derive(Debug, Default)]
pub struct Entries {
    /// Listeners (or bound sockets) by key.
    pub listeners: Vec<usize>,
    /// Connecters by key.
    pub connecters: Vec<usize>,
    /// Links by key, accepted or connected.
    pub links: FxHashSet<usize>,
}

/// Every socket's entries.
#[derive(Debug, Default)]
pub struct SocketLinks(FxHashMap<SocketId, Entries>);

impl SocketLinks {
    /// The entries of `sock`, made empty if it had none.
    pub fn of(&mut self, sock: SocketId) -> &mut Entries {
        self.0.entry(sock).or_default()
    }

    /// The entries of `sock`, if it has any.
    pub fn get(&self, sock: SocketId) -> Option<&Entries> {
        self.0.get(&sock)
    }

    /// Forgets `sock`; returns what it had.
    pub fn remove(&mut self, sock: SocketId) -> Option<Entries> {
        self.0.remove(&sock)
    }

    /// Forgets the link `key` of `sock`.
    pub fn remove_link(&mut self, sock: SocketId, key: usize) {
        if let Some(e) = self.0.get_mut(&sock) {
            e.links.remove(&key);
        }
    }

    /// Takes from `sock` the first listener for which `is` holds (`unbind`).
    pub fn take_listener(
        &mut self,
        sock: SocketId,
        endpoint: &str,
        is: impl Fn(usize) -> bool,
    ) -> Result<usize> {
        take(&mut self.of(sock).listeners, endpoint, is)
    }

    /// Takes from `sock` the first connecter for which `is` holds (`disconnect`).
    pub fn take_connecter(
        &mut self,
        sock: SocketId,
        endpoint: &str,
        is: impl Fn(usize) -> bool,
    ) -> Result<usize> {
        take(&mut self.of(sock).connecters, endpoint, is)
    }
}

fn take(keys: &mut Vec<usize>, endpoint: &str, is: impl Fn(usize) -> bool) -> Result<usize> {
    match keys.iter().position(|&k| is(k)) {
        Some(pos) => Ok(keys.swap_remove(pos)),
        None => Err(Error::UnknownEndpoint {
            endpoint: endpoint.into(),
        }),
    }
}
