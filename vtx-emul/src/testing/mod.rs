//! Test support (feature `test-util`): a stream transport over Unix domain sockets
//! speaking ZMTP 3.1, so the runtime and the manager can be tested end to end without a
//! network transport, and against libzmq's own `ipc://` sockets.
//!
//! Addresses: `scheme://@name` (Linux abstract namespace, nothing to clean up) or
//! `scheme:///path/to/socket`.
//!
//! [`net`] is the in-memory world for sans-IO tests: Vockets wired by links with a
//! virtual clock and seeded loss, duplication, reordering and delay. [`process`] runs
//! children and isolated test bodies (own process, own network namespace), and
//! [`wait_until`] is how every end-to-end test waits: on a condition it can observe.

pub mod net;
pub mod process;
pub mod swarm;

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;

use crate::stream::{Network, StreamTransport};
use crate::zmtp::ZmtpSession;
use crate::{Endpoint, Error, Result, SocketOptions};

/// ZMTP over Unix sockets.
pub type UnixTransport = StreamTransport<UnixNetwork, ZmtpSession>;

/// A ZMTP-over-Unix-socket transport, ready to register.
pub fn unix_transport() -> UnixTransport {
    StreamTransport::new(UnixNetwork)
}

/// Unix domain sockets as a [`Network`].
#[derive(Debug, Default)]
pub struct UnixNetwork;

fn parse(endpoint: &Endpoint) -> Result<SocketAddr> {
    let a = endpoint.address();
    let r = match a.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(a),
    };
    r.map_err(|e| Error::bad_endpoint(endpoint.as_str(), e.to_string()))
}

impl Network for UnixNetwork {
    type Listener = mio::net::UnixListener;
    type Link = mio::net::UnixStream;
    type Target = (SocketAddr, String);

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        _opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        let addr = parse(endpoint)?;
        let l = mio::net::UnixListener::bind_addr(&addr)
            .map_err(|e| Error::from_bind(endpoint.as_str(), e))?;
        Ok((l, endpoint.to_string()))
    }

    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)> {
        let (s, _) = listener.accept()?;
        let n = ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let local = listener
            .local_addr()
            .ok()
            .map(|a| describe(&a))
            .unwrap_or_default();
        Ok((s, format!("{local}#{n}")))
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target> {
        Ok((parse(endpoint)?, endpoint.address().to_owned()))
    }

    fn connect(
        &mut self,
        target: &Self::Target,
        _opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)> {
        Ok((
            mio::net::UnixStream::connect_addr(&target.0)?,
            target.1.clone(),
        ))
    }
}

static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn describe(a: &SocketAddr) -> String {
    if let Some(name) = a.as_abstract_name() {
        format!("@{}", String::from_utf8_lossy(name))
    } else if let Some(p) = a.as_pathname() {
        p.display().to_string()
    } else {
        "unnamed".into()
    }
}

/// Polls `f` every few milliseconds until it holds and returns how long that took;
/// panics naming `what` if it does not hold within `limit`. Tests wait on what they
/// can observe, never for a fixed time.
pub fn wait_until(
    what: &str,
    limit: std::time::Duration,
    mut f: impl FnMut() -> bool,
) -> std::time::Duration {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    t0.elapsed()
}

/// Raises this process's open-file limit to at least `want` (soft, and hard when
/// privileged); returns the soft limit in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur >= want {
            return r.rlim_cur;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: r.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            let soft = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    r.rlim_cur
}

/// A global allocator that counts live heap bytes, to measure memory per peering:
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();`.
#[derive(Debug)]
pub struct CountingAlloc {
    live: std::sync::atomic::AtomicIsize,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> CountingAlloc {
        CountingAlloc {
            live: std::sync::atomic::AtomicIsize::new(0),
        }
    }

    /// Heap bytes allocated and not freed.
    pub fn live(&self) -> isize {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The live heap once it has settled: it changed by less than 1% and 64 KiB over
    /// the last 200 ms. What memory measures read, after heartbeats, acknowledgements
    /// and buffers released on idle have run their course; panics if it does not settle
    /// within 20 s (the measure would mean nothing).
    pub fn settled(&self) -> isize {
        let t0 = std::time::Instant::now();
        let mut last = self.live();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let now = self.live();
            let moved = (now - last).unsigned_abs();
            if moved < 64 * 1024 && moved * 100 < now.unsigned_abs().max(1) {
                return now;
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "the heap did not settle: {last} then {now} bytes"
            );
            last = now;
        }
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        CountingAlloc::new()
    }
}

// SAFETY: forwards every call to the system allocator unchanged, only counting sizes.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        self.live
            .fetch_add(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        self.live
            .fetch_sub(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        self.live.fetch_add(
            new as isize - l.size() as isize,
            std::sync::atomic::Ordering::Relaxed,
        );
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.realloc(p, l, new) }
    }
}
