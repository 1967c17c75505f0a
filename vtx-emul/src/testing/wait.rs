//! How end-to-end tests wait: on a condition they can observe, polled every few
//! milliseconds, with a deadline that fails the test naming what did not happen. Never
//! for a fixed time.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(2);

/// Polls `f` until it holds and returns how long that took; panics naming `what` if it
/// does not hold within `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(POLL);
    }
    t0.elapsed()
}

/// Polls `count` until it reaches `at_least` and returns the count then; panics naming
/// `what` and the last count if it does not within `limit`. For peerings coming up,
/// counters rising, replies arriving.
pub fn wait_for_count<T: PartialOrd + Display>(
    what: &str,
    limit: Duration,
    at_least: T,
    mut count: impl FnMut() -> T,
) -> T {
    let t0 = Instant::now();
    loop {
        let n = count();
        if n >= at_least {
            return n;
        }
        assert!(
            t0.elapsed() < limit,
            "{what}: {n} of {at_least}, not within {limit:?}"
        );
        std::thread::sleep(POLL);
    }
}
