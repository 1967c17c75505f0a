//! NOM-2 codec: round trips and hostile bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use vtx_emul::{Msg, SocketType};
use vtx_udp::nom2::wire::{self, Cmd, Datagram, Hello, Reason, Record, Records, WireError};

fn b(v: Vec<u8>) -> Bytes {
    Bytes::from(v)
}

fn hello(ty: SocketType, identity: &'static [u8]) -> Hello {
    Hello {
        sender: 0xDEAD_BEEF,
        socket_type: ty,
        identity: Bytes::from_static(identity),
    }
}

#[test]
fn hello_round_trips() {
    let h = hello(SocketType::Router, b"me");
    let cookie = [7u8; wire::COOKIE_LEN];
    let mut out = Vec::new();
    wire::encode_ohai(&mut out, &h, &cookie);
    assert_eq!(
        wire::decode(&b(out)).unwrap(),
        Datagram::Ohai(
            wire::Header {
                cmd: Cmd::Ohai,
                peering: 0
            },
            h.clone(),
            cookie
        )
    );
    let mut out = Vec::new();
    wire::encode_ohai_ok(&mut out, 7, &h);
    assert_eq!(
        wire::decode(&b(out)).unwrap(),
        Datagram::OhaiOk(
            wire::Header {
                cmd: Cmd::OhaiOk,
                peering: 7
            },
            h
        )
    );
    let mut out = Vec::new();
    wire::encode_cookie(&mut out, 9, &cookie);
    assert_eq!(out.len(), wire::COOKIE_DATAGRAM);
    assert!(
        matches!(wire::decode(&b(out)).unwrap(), Datagram::Cookie(hd, c) if hd.peering == 9 && c == cookie)
    );
}

/// §9: what a server sends an address that has not proved it receives is no larger
/// than what it got from there.
#[test]
fn answers_to_unvalidated_addresses_are_no_larger_than_the_requests() {
    let mut ohai = Vec::new();
    wire::encode_ohai(
        &mut ohai,
        &hello(SocketType::Req, b""),
        &[0; wire::COOKIE_LEN],
    );
    assert_eq!(ohai.len(), wire::MIN_OHAI);
    let mut cookie = Vec::new();
    wire::encode_cookie(&mut cookie, 1, &[9; wire::COOKIE_LEN]);
    assert!(cookie.len() <= ohai.len());
    let mut hugz = Vec::new();
    wire::encode_hugz(&mut hugz, 1, 0);
    assert_eq!(hugz.len(), wire::HUGZ_LEN);
    let mut rotfl = Vec::new();
    wire::encode_rotfl(&mut rotfl, 0, Reason::UnknownPeering, 1, "");
    assert_eq!(rotfl.len(), wire::SHORT_ROTFL);
    assert!(rotfl.len() <= hugz.len());
}

#[test]
fn control_commands_round_trip() {
    let mut out = Vec::new();
    wire::encode_rotfl(
        &mut out,
        3,
        Reason::Incompatible,
        9,
        "socket type PUB cannot talk to REQ",
    );
    assert_eq!(
        wire::decode(&b(out)).unwrap(),
        Datagram::Rotfl(
            wire::Header {
                cmd: Cmd::Rotfl,
                peering: 3
            },
            Reason::Incompatible,
            9,
            Bytes::from_static(b"socket type PUB cannot talk to REQ")
        )
    );
    let mut out = Vec::new();
    wire::encode_hugz(&mut out, 5, 30);
    assert!(matches!(
        wire::decode(&b(out)).unwrap(),
        Datagram::Hugz(_, 30)
    ));
    let mut out = Vec::new();
    wire::encode_sub(&mut out, 5, false, 42, b"topic");
    assert!(
        matches!(wire::decode(&b(out)).unwrap(), Datagram::Sub(_, false, 42, t) if &t[..] == b"topic")
    );
    let mut out = Vec::new();
    wire::encode_sub_ok(&mut out, 5, 42);
    assert!(matches!(
        wire::decode(&b(out)).unwrap(),
        Datagram::SubOk(_, 42)
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let mut out = Vec::new();
    wire::encode_ohai(
        &mut out,
        &hello(SocketType::Req, b"abc"),
        &[1; wire::COOKIE_LEN],
    );
    for n in 0..out.len() {
        assert!(
            wire::decode(&Bytes::copy_from_slice(&out[..n])).is_err(),
            "prefix of {n} bytes"
        );
    }
}

#[test]
fn refuses_other_versions_commands_and_reserved_bits() {
    let ok = [wire::SIGNATURE, Cmd::Kthxbai as u8, 0, 0, 0, 0, 0, 1];
    assert!(wire::decode(&Bytes::copy_from_slice(&ok)).is_ok());
    let mut v1 = ok;
    v1[0] = 0x11; // NOM-1
    assert_eq!(
        wire::decode(&Bytes::copy_from_slice(&v1)),
        Err(WireError::BadSignature(0x11))
    );
    let mut c = ok;
    c[1] = 0x7F;
    assert_eq!(
        wire::decode(&Bytes::copy_from_slice(&c)),
        Err(WireError::UnknownCommand(0x7F))
    );
    let mut r = ok;
    r[3] = 1;
    assert_eq!(
        wire::decode(&Bytes::copy_from_slice(&r)),
        Err(WireError::Reserved)
    );
    let mut t = Vec::new();
    wire::encode_ohai(&mut t, &hello(SocketType::Req, b""), &[0; wire::COOKIE_LEN]);
    t[12] = 11; // socket type 11 does not exist
    assert_eq!(wire::decode(&b(t)), Err(WireError::BadSocketType(11)));
}

#[test]
fn records_with_lengths_past_the_datagram_are_refused() {
    let mut body = Vec::new();
    wire::put_record_header(&mut body, wire::RECORD_MSG, 100, 1, None);
    body.extend_from_slice(b"short");
    let mut it = Records::new(b(body));
    assert_eq!(it.next(), Some(Err(WireError::Truncated("record payload"))));
    assert_eq!(it.next(), None, "stops after an error");
    // A frame length past the message.
    assert_eq!(
        wire::decode_frames(&Bytes::from_static(&[0x05, b'a']), 1000),
        Err(WireError::BadFrame)
    );
    assert_eq!(
        wire::decode_frames(&Bytes::new(), 1000),
        Err(WireError::BadFrame),
        "no frames"
    );
    assert_eq!(
        wire::decode_frames(&Bytes::from_static(&[0xFF; 8]), 1000),
        Err(WireError::BadFrame),
        "overlong varint"
    );
    // A fragment past its message.
    let mut body = Vec::new();
    wire::put_record_header(&mut body, wire::RECORD_FRAG, 10, 1, None);
    body.extend_from_slice(&10u32.to_be_bytes());
    body.extend_from_slice(&9u32.to_be_bytes());
    body.extend_from_slice(b"xy");
    assert_eq!(
        Records::new(b(body)).next(),
        Some(Err(WireError::BadFragment))
    );
    // A fragment that carries nothing (§5.3): refused, it only costs bookkeeping.
    let mut body = Vec::new();
    wire::put_record_header(&mut body, wire::RECORD_FRAG, 8, 1, None);
    body.extend_from_slice(&10u32.to_be_bytes());
    body.extend_from_slice(&3u32.to_be_bytes());
    assert_eq!(
        Records::new(b(body)).next(),
        Some(Err(WireError::BadFragment))
    );
}

/// Each frame after the first costs 64 bytes against the limit (as in ZMTP): one wire
/// byte per empty frame cannot make thousands of frame objects.
#[test]
fn frames_are_charged_against_the_size_limit() {
    let one = Msg::single(Bytes::from(vec![1u8; 1000]));
    let mut body = Vec::new();
    wire::encode_frames(&mut body, &one);
    assert_eq!(wire::decode_frames(&b(body.clone()), 1000).unwrap(), one);
    assert_eq!(wire::decode_frames(&b(body), 999), Err(WireError::TooLarge));
    let empties = Msg::from_frames(std::iter::repeat_n(Bytes::new(), 100));
    assert_eq!(empties.cost(), 99 * 64);
    let mut body = Vec::new();
    wire::encode_frames(&mut body, &empties);
    assert_eq!(body.len(), 100, "one wire byte per empty frame");
    assert!(wire::decode_frames(&b(body.clone()), 99 * 64).is_ok());
    assert_eq!(
        wire::decode_frames(&b(body), 99 * 64 - 1),
        Err(WireError::TooLarge)
    );
    assert!(
        wire::max_serialized(64 * 1024) as usize
            >= wire::frames_len(&Msg::single(Bytes::from(vec![0u8; 64 * 1024])))
    );
}

fn msg_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 120..300)
        ],
        1..5,
    )
}

proptest! {
    /// Read out in pieces of any size, a message's serialization is `encode_frames`'s,
    /// byte for byte, and `frames_len` long (fragments are cut from it).
    #[test]
    fn frames_reader_matches_encode_frames(
        frames in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..3),
                proptest::collection::vec(any::<u8>(), 100..200),
                proptest::collection::vec(any::<u8>(), 16_380..16_390),
            ],
            1..6,
        ),
        pieces in proptest::collection::vec(1usize..3000, 1..40),
    ) {
        let msg = Msg::from_frames(frames.into_iter().map(Bytes::from));
        let mut want = Vec::new();
        wire::encode_frames(&mut want, &msg);
        prop_assert_eq!(want.len(), wire::frames_len(&msg));
        let mut reader = wire::FramesReader::new(&msg);
        let mut got = Vec::new();
        for n in pieces.iter().cycle() {
            let before = got.len();
            let copied = reader.read_into(&mut got, *n);
            prop_assert_eq!(copied, got.len() - before);
            if copied < *n {
                break;
            }
        }
        prop_assert_eq!(reader.read_into(&mut got, 1), 0, "nothing after the end");
        prop_assert_eq!(got, want);
    }

    /// Records packed in a NOM body decode to the same messages, sequences and tags.
    #[test]
    fn records_round_trip(msgs in proptest::collection::vec((msg_strategy(), proptest::option::of(any::<u32>())), 1..8)) {
        let mut body = Vec::new();
        for (i, (frames, rseq)) in msgs.iter().enumerate() {
            let msg = Msg::from_frames(frames.iter().cloned().map(Bytes::from));
            wire::put_record_header(&mut body, wire::RECORD_MSG, wire::frames_len(&msg), i as u32, *rseq);
            wire::encode_frames(&mut body, &msg);
        }
        let recs: Vec<Record> = Records::new(b(body)).map(Result::unwrap).collect();
        prop_assert_eq!(recs.len(), msgs.len());
        for (i, (r, (frames, rseq))) in recs.iter().zip(&msgs).enumerate() {
            let Record::Msg { dseq, rseq: got_rseq, body } = r else { panic!("{r:?}") };
            prop_assert_eq!(*dseq, i as u32);
            prop_assert_eq!(got_rseq, rseq);
            let m = wire::decode_frames(body, u64::MAX).unwrap();
            let got: Vec<Vec<u8>> = m.iter().map(|f| f.to_vec()).collect();
            prop_assert_eq!(&got, frames);
        }
    }

    /// Any bytes: a typed error or a value, never a panic; records and frames inside
    /// are equally safe.
    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), sig in any::<bool>(), cmd in 0u8..14) {
        let mut data = data;
        if sig && data.len() >= 4 {
            data[0] = wire::SIGNATURE;
            data[1] = cmd;
            data[2] = 0;
            data[3] = 0;
        }
        if let Ok(Datagram::Nom(_, body)) = wire::decode(&Bytes::from(data)) {
            for r in Records::new(body) {
                if let Ok(Record::Msg { body, .. }) = r {
                    let _ = wire::decode_frames(&body, 64 * 1024);
                }
            }
        }
    }
}
