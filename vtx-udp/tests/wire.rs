//! NOM-2 codec: round trips and hostile bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use vtx_emul::{Msg, SocketType};
use vtx_udp::nom2::wire::{self, Cmd, Datagram, Hello, Reason, Record, Records, WireError};

fn b(v: Vec<u8>) -> Bytes {
    Bytes::from(v)
}

#[test]
fn hello_round_trips() {
    for cmd in [Cmd::Ohai, Cmd::OhaiOk] {
        let h = Hello {
            sender: 0xDEAD_BEEF,
            socket_type: SocketType::Router,
            identity: Bytes::from_static(b"me"),
        };
        let mut out = Vec::new();
        wire::encode_hello(&mut out, cmd, 7, &h);
        let d = wire::decode(&b(out)).unwrap();
        match d {
            Datagram::Ohai(hd, got) | Datagram::OhaiOk(hd, got) => {
                assert_eq!(hd.peering, 7);
                assert_eq!(hd.cmd, cmd);
                assert_eq!(got, h);
            }
            other => panic!("{other:?}"),
        }
    }
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
    wire::encode_hello(
        &mut out,
        Cmd::Ohai,
        0,
        &Hello {
            sender: 1,
            socket_type: SocketType::Req,
            identity: Bytes::from_static(b"abc"),
        },
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
    wire::encode_hello(
        &mut t,
        Cmd::Ohai,
        0,
        &Hello {
            sender: 1,
            socket_type: SocketType::Req,
            identity: Bytes::new(),
        },
    );
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
        wire::decode_frames(&Bytes::from_static(&[0x05, b'a'])),
        Err(WireError::BadFrame)
    );
    assert_eq!(
        wire::decode_frames(&Bytes::new()),
        Err(WireError::BadFrame),
        "no frames"
    );
    assert_eq!(
        wire::decode_frames(&Bytes::from_static(&[0xFF; 8])),
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
            let m = wire::decode_frames(body).unwrap();
            let got: Vec<Vec<u8>> = m.iter().map(|f| f.to_vec()).collect();
            prop_assert_eq!(&got, frames);
        }
    }

    /// Any bytes: a typed error or a value, never a panic; records and frames inside
    /// are equally safe.
    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), sig in any::<bool>(), cmd in 0u8..12) {
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
                    let _ = wire::decode_frames(&body);
                }
            }
        }
    }
}
