//! ZMTP-SASL handshakes driven by hostile bytes, in arbitrary chunks: a server (HELLO,
//! RESPONSE and INITIATE decoders, rsasl's mechanisms, the authoriser's call) and a
//! client (CHALLENGE, WELCOME, READY), for every mechanism, with or without a TLS
//! channel and a valid start. No panic, bounded buffering, and a server lets a peer up
//! only with a `User-Id`: someone the exchange authenticated.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

#[path = "session_feed.rs"]
mod session_feed;
use vtx_emul::SocketType;
use vtx_emul::sasl::{SaslClient, SaslMechanism, SaslServer, ScramUsers};
use vtx_emul::security::{AllowAny, Security};
use vtx_emul::session::{ChannelFacts, Local, OutBuf, Role, Session, SessionEvent};
use vtx_emul::zmtp::command;
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::zmtp::{ZmtpSession, frame, sasl};

const LIMIT: u64 = 64 * 1024;

fuzz_target!(|input: (bool, u8, u8, &[u8])| {
    let (server, how, chunk, data) = input;
    // The codecs alone, on the raw bytes.
    let _ = sasl::parse_hello(data);
    let _ = sasl::parse_optional(data);
    let _ = sasl::parse_data(data);
    let mechanism = SaslMechanism::ALL[usize::from(how % 4)];
    let channel = if how & 4 != 0 {
        ChannelFacts {
            tls_exporter: Some(Zeroizing::new([7; 32])),
            certificate_name: Some("client.example".into()),
        }
    } else {
        ChannelFacts::default()
    };
    // One iteration: the fuzzer explores the protocol, not PBKDF2.
    let users = ScramUsers::new().with_password("alice", "wonderland", b"0123456789abcdef", 1);
    let security = if server {
        Security::SaslServer(Arc::new(SaslServer::new(
            mechanism,
            Arc::new(users),
            Arc::new(AllowAny),
            [1; 32],
        )))
    } else {
        let c = match mechanism {
            SaslMechanism::External => SaslClient::external(),
            m => SaslClient::new(m, "alice", "wonderland").unwrap(),
        };
        Security::SaslClient(Arc::new(c))
    };
    let local = Local {
        socket_type: if server {
            SocketType::Router
        } else {
            SocketType::Dealer
        },
        identity: None,
        metadata: Vec::new(),
        max_msg_size: Some(LIMIT),
        security,
        seed: None,
        peer_address: String::new(),
        identity_from_user: false,
    };
    let role = if server { Role::Server } else { Role::Client };
    let mut s = ZmtpSession::new(&local, role);
    let mut out = OutBuf::new();
    s.start(&mut out);
    if s.wants_channel() {
        s.set_channel(channel.clone());
    }
    // A valid start (the greeting, and for a server a real client's HELLO), then the
    // fuzzer's bytes.
    let mut stream = Vec::new();
    if how & 8 == 0 {
        stream.extend_from_slice(&Greeting::new(b"SASL", !server).encode());
        if server && how & 16 != 0 {
            let cfg = Arc::new(match mechanism {
                SaslMechanism::External => SaslClient::external(),
                m => SaslClient::new(m, "alice", "wonderland").unwrap(),
            });
            if let Ok((_, initial)) = sasl::ClientExchange::start(&cfg, &channel) {
                let mut hello = OutBuf::new();
                frame::encode(&mut hello, &sasl::hello(mechanism, initial.as_deref()), false, true);
                while !hello.is_empty() {
                    hello.write_to(&mut stream).unwrap();
                }
            }
        }
    }
    stream.extend_from_slice(data);
    session_feed::feed(
        &mut s,
        &mut out,
        &stream,
        usize::from(chunk),
        LIMIT,
        |ev| match ev {
            SessionEvent::Ready { properties, .. } => {
                if server {
                    // In only as someone the exchange authenticated: alice, the
                    // certificate, or the authzid one of them asked for.
                    let user = command::property(&properties, "User-Id");
                    assert!(user.is_some_and(|u| !u.is_empty()), "{user:?}");
                }
                true
            }
            SessionEvent::Refused(_)
            | SessionEvent::Denied { .. }
            | SessionEvent::PeerError(_) => false,
            _ => true,
        },
    );
});
