//! Hostile SCTP packets (UDP payloads) to the userspace `sctp` backend's stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vtx_sctp::fuzzing::feed_server(data);
});
