//! What the application may ask about the peer a message came from, as libzmq's
//! `zmq_msg_gets` answers for its own messages, and which peer each message the
//! application pipe carried came from.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::PeerInfo;
use crate::SocketType;

/// A peer's properties: its socket type, identity and address, and what it announced
/// in its handshake (ZMTP READY: `X-...` application properties among them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerProperties {
    socket_type: SocketType,
    identity: Option<Bytes>,
    address: String,
    announced: Vec<(Bytes, Bytes)>,
}

impl PeerProperties {
    pub(crate) fn new(info: &mut PeerInfo) -> PeerProperties {
        PeerProperties {
            socket_type: info.socket_type,
            identity: info.identity.clone(),
            address: info.address.clone(),
            announced: std::mem::take(&mut info.properties),
        }
    }

    /// A property by name, case-insensitively as ZMTP names are: `Socket-Type`,
    /// `Identity` (when the peer announced one), `Peer-Address` (its schemed address,
    /// `tcp6://[::1]:5555`; libzmq gives the IP alone), or one the peer announced.
    pub fn get(&self, name: &str) -> Option<Bytes> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("Socket-Type") {
            return Some(Bytes::from_static(self.socket_type.name().as_bytes()));
        }
        if is("Identity") {
            return self.identity.clone();
        }
        if is("Peer-Address") {
            return Some(Bytes::copy_from_slice(self.address.as_bytes()));
        }
        self.announced
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.clone())
    }

    /// The peer's socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The peer's schemed address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Everything the peer announced in its handshake, as it came.
    pub fn announced(&self) -> &[(Bytes, Bytes)] {
        &self.announced
    }
}

/// Which peer each message handed to the application pipe came from, by its number,
/// for the application's question about the message it received last. Bounded: the
/// application reads at most a pipe's worth behind the driver, and older entries go.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    /// Entries for messages `next - len ..= next - 1`.
    from: VecDeque<Option<Arc<PeerProperties>>>,
    /// The number the next message handed over gets.
    next: u64,
}

/// Most entries [`Delivered`] keeps (with RCVHWM 0, no limit, the pipe may hold more:
/// the properties of a message further behind are not known).
pub(crate) const DELIVERED_MAX: usize = 65_536;

impl Delivered {
    pub(crate) fn push(&mut self, from: Option<Arc<PeerProperties>>, keep: usize) {
        let keep = keep.clamp(1, DELIVERED_MAX);
        while self.from.len() >= keep {
            self.from.pop_front();
        }
        self.from.push_back(from);
        self.next += 1;
    }

    /// The peer of message `n` (numbered from 0 in the order handed over), if kept.
    pub(crate) fn get(&self, n: u64) -> Option<&Arc<PeerProperties>> {
        let first = self.next - self.from.len() as u64;
        let i = n.checked_sub(first)?;
        self.from.get(usize::try_from(i).ok()?)?.as_ref()
    }

    /// The peer of the last message handed over.
    pub(crate) fn last(&self) -> Option<&Arc<PeerProperties>> {
        self.from.back()?.as_ref()
    }
}
