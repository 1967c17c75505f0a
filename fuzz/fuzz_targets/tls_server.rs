//! Hostile bytes to the server side of a TLS 1.3 + ZMTP session.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (chunk, data) = input;
    let _ = vtx_tls::fuzzing::feed_server(data, usize::from(chunk).max(1) * 16);
});
