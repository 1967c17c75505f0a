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
use vtx_emul::sasl::{SaslClient, SaslMechanism, SaslServer, ScramUsers};
use vtx_emul::security::{AllowAny, Security};
use vtx_emul::session::{ChannelFacts, OutBuf, Session};
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::zmtp::{frame, sasl};

const LIMIT: u64 = 64 * 1024;

/// alice's client of `mechanism` (EXTERNAL: her certificate).
fn client(mechanism: SaslMechanism) -> Arc<SaslClient> {
    Arc::new(match mechanism {
        SaslMechanism::External => SaslClient::external(),
        m => SaslClient::new(m, "alice", "wonderland").unwrap(),
    })
}

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
        Security::SaslClient(client(mechanism))
    };
    let (mut s, mut out) = session_feed::started(server, security, LIMIT);
    if s.wants_channel() {
        s.set_channel(channel.clone());
    }
    // A valid start (the greeting, and for a server a real client's HELLO), then the
    // fuzzer's bytes.
    let mut stream = Vec::new();
    if how & 8 == 0 {
        stream.extend_from_slice(&Greeting::new(b"SASL", !server).encode());
        if server && how & 16 != 0 {
            let cfg = client(mechanism);
            if let Ok((_, initial)) = sasl::ClientExchange::start(&cfg, &channel) {
                let mut hello = OutBuf::new();
                frame::encode(
                    &mut hello,
                    &sasl::hello(mechanism, initial.as_deref()),
                    false,
                    true,
                );
                while !hello.is_empty() {
                    hello.write_to(&mut stream).unwrap();
                }
            }
        }
    }
    stream.extend_from_slice(data);
    // In only as someone the exchange authenticated: alice, the certificate, or the
    // authzid one of them asked for.
    session_feed::feed_checking_user(
        &mut s,
        &mut out,
        &stream,
        usize::from(chunk),
        LIMIT,
        server,
        |user| user.is_some_and(|u| !u.is_empty()),
    );
});
