//! The fuzz entry point on stable: random and truncated inputs never panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn feed_server_takes_anything() {
    let mut x: u64 = 0x1234_5678_9ABC_DEF0;
    for len in [0usize, 1, 5, 6, 200, 4000] {
        for _ in 0..50 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert_eq!(
                vtx_tls::fuzzing::feed_server(&data, 7),
                0,
                "random bytes made ZMTP events"
            );
        }
    }
    // A record header announcing a huge length, and a truncated ClientHello.
    assert_eq!(
        vtx_tls::fuzzing::feed_server(&[0x16, 0x03, 0x03, 0xFF, 0xFF, 1, 2, 3], 3),
        0
    );
    assert_eq!(
        vtx_tls::fuzzing::feed_server(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01], 1),
        0
    );
}
