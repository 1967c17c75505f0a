//! What a test measures about its own process: live heap bytes and allocations (a
//! counting global allocator), resident memory and open descriptors.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A global allocator that counts live heap bytes, to measure memory per peering, and
/// allocations, to measure what a message costs:
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();`.
#[derive(Debug)]
pub struct CountingAlloc {
    live: AtomicIsize,
    allocations: AtomicU64,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> CountingAlloc {
        CountingAlloc {
            live: AtomicIsize::new(0),
            allocations: AtomicU64::new(0),
        }
    }

    /// Allocations (and reallocations) so far.
    pub fn allocations(&self) -> u64 {
        self.allocations.load(Ordering::Relaxed)
    }

    /// Heap bytes allocated and not freed.
    pub fn live(&self) -> isize {
        self.live.load(Ordering::Relaxed)
    }

    /// The live heap once it has settled: it changed by less than 1% and 64 KiB over
    /// the last 200 ms. What memory measures read, after heartbeats, acknowledgements
    /// and buffers released on idle have run their course; panics if it does not settle
    /// within 20 s (the measure would mean nothing).
    pub fn settled(&self) -> isize {
        let t0 = Instant::now();
        let mut last = self.live();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.live();
            let moved = (now - last).unsigned_abs();
            if moved < 64 * 1024 && moved * 100 < now.unsigned_abs().max(1) {
                return now;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
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
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        self.live.fetch_add(l.size() as isize, Ordering::Relaxed);
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        self.live.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        self.live
            .fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

/// This process's resident memory, in KiB (`/proc/self/statm`).
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .unwrap_or_else(|e| panic!("/proc/self/statm: {e}"));
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("/proc/self/statm: {statm}"));
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64 / 1024
}

/// How many descriptors this process has open (`/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("/proc/self/fd: {e}"))
        .count()
}
