//! What the application's thread may know of a socket without asking its driver: the
//! number of live peerings and, for a ROUTER, the identities they answer to. The driver
//! keeps it current after every pass over the socket; the application reads it on each
//! send, to fail or block where libzmq would (`EAGAIN` with no peer to take a message,
//! `EHOSTUNREACH` for an unknown identity under ROUTER_MANDATORY).
//!
//! The view lags the driver by at most one pass, as libzmq's own view of its pipes
//! lags its I/O threads: a peering that just came up may not be sendable to yet, one
//! that just went down may still take a message, which is then lost with it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The application's view of one socket's peerings.
#[derive(Debug, Default)]
pub struct SocketShared {
    peers: AtomicUsize,
    /// ROUTER: the identities of live peerings (empty for other types).
    routes: RwLock<HashSet<Bytes>>,
    /// Signalled when peerings come up (for a send blocked on having none).
    changed: (Mutex<()>, Condvar),
}

impl SocketShared {
    /// Live peerings, as of the driver's last pass over the socket.
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Acquire)
    }

    /// ROUTER: whether a live peering answers to `identity`.
    pub fn has_route(&self, identity: &[u8]) -> bool {
        self.routes
            .read()
            .map(|r| r.contains(identity))
            .unwrap_or(false)
    }

    /// Waits until `ready` holds or `timeout` passes (`None`: for ever); true when it
    /// holds. `ready` is checked again whenever peerings change.
    pub fn wait(&self, timeout: Option<Duration>, ready: impl Fn(&SocketShared) -> bool) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let (lock, cond) = &self.changed;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if ready(self) {
                return true;
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return false,
                },
                // Woken by every change; the bound only guards against a lost wake-up.
                None => Duration::from_secs(1),
            };
            guard = cond
                .wait_timeout(guard, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The driver's update after a pass: the peer count and the identities that came
    /// and went.
    pub(crate) fn update(&self, peers: usize, routes: impl Iterator<Item = (Bytes, bool)>) {
        let mut routes = routes.peekable();
        let changed_routes = routes.peek().is_some();
        if changed_routes && let Ok(mut table) = self.routes.write() {
            for (id, up) in routes {
                if up {
                    table.insert(id);
                } else {
                    table.remove(&id);
                }
            }
        }
        let before = self.peers.swap(peers, Ordering::AcqRel);
        if before != peers || changed_routes {
            let _guard = self.changed.0.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.1.notify_all();
        }
    }
}
