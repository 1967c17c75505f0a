//! What a test of thousands of peerings needs from its process: descriptors enough,
//! and the process to itself while it runs.

use std::sync::{Mutex, MutexGuard};

/// Held by the test of many peerings that runs now.
static TURN: Mutex<()> = Mutex::new(());

/// Takes this process's turn for a test of `peers` concurrent peerings and raises the
/// open-file limit to `fds`; panics if it cannot reach `peers` + 1,000. Hold the guard
/// while the test runs: two such tests at once would pass the limit.
pub fn many_peers(peers: usize, fds: u64) -> MutexGuard<'static, ()> {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let need = peers as u64 + 1000;
    let got = raise_fd_limit(fds);
    assert!(
        got >= need,
        "cannot raise the open-file limit for {peers} peers: {got}, {need} needed"
    );
    turn
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
