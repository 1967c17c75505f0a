//! The RFC 6455 frame decoder on hostile bytes, as a server and as a client: no
//! panic, nothing decoded past the limit, every frame taken consumes what it said, and
//! what it decodes re-encodes to the same frame.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use vtx_ws::frame::{self, Side};

const LIMIT: u64 = 64 * 1024;

fuzz_target!(|input: (bool, &[u8])| {
    let (server, data) = input;
    let side = if server { Side::Server } else { Side::Client };
    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = frame::decode(&mut buf, side, LIMIT) {
        assert!(f.payload.len() as u64 <= LIMIT);
        let mask = server.then_some([1, 2, 3, 4]);
        let mut out = BytesMut::new();
        frame::encode(&mut out, f.fin, f.opcode, &f.payload, mask);
        let again = frame::decode(&mut out, side, LIMIT).unwrap().unwrap();
        assert_eq!(again, f);
        assert!(out.is_empty());
    }
});
