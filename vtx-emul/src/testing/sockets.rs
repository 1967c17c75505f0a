//! Exchanges on 0MQ sockets that every transport's tests run: a numbered request and its
//! reply, many of them, a message each way over every pair of socket types ([`PAIRS`]), a stream of
//! numbered messages checked in order, a ROUTER answering many peers, publishing until
//! a subscription has arrived, and a cancelled subscription that must hold.
//!
//! Macros rather than functions: they call libzmq's method names (`send`,
//! `recv_bytes`, `recv_multipart`, ...), so they take a native `zmq::Socket` and a
//! `vtx::VtxSocket` alike, a type this crate (below `vtx`) cannot name; those that need
//! what only a vtx socket tells (`peer_count`, `meta`) say so. They panic at the
//! caller's line, saying which message went wrong. The calling crate depends on `zmq`.

/// Every pair of socket types [`every_pair!`](crate::every_pair) runs, the connecting
/// type first: each direction of binding where both make sense.
pub const PAIRS: [(zmq::SocketType, zmq::SocketType); 9] = [
    (zmq::DEALER, zmq::ROUTER),
    (zmq::DEALER, zmq::DEALER),
    (zmq::PUSH, zmq::PULL),
    (zmq::PAIR, zmq::PAIR),
    (zmq::REQ, zmq::ROUTER),
    (zmq::DEALER, zmq::REP),
    (zmq::ROUTER, zmq::DEALER),
    (zmq::PULL, zmq::PUSH),
    (zmq::XSUB, zmq::XPUB),
];

/// One request/reply round trip, numbered `i`, checked at both ends: `req` sends
/// `request {i}`, `rep` must receive exactly that and answers with two frames,
/// `reply {i}` and `part two`, which `req` must receive.
///
/// ```no_run
/// # let ctx = zmq::Context::new();
/// # let (req, rep) = (ctx.socket(zmq::REQ).unwrap(), ctx.socket(zmq::REP).unwrap());
/// for i in 0..100 {
///     vtx_emul::round_trip!(req, rep, i);
/// }
/// ```
#[macro_export]
macro_rules! round_trip {
    ($req:expr, $rep:expr, $i:expr) => {{
        let (req, rep, i) = (&$req, &$rep, $i);
        let request = format!("request {i}");
        req.send(request.as_bytes(), 0)
            .unwrap_or_else(|e| panic!("send {request:?}: {e}"));
        let got = rep
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("receive {request:?}: {e}"));
        assert_eq!(got, request.as_bytes(), "round trip {i}: the request");
        let reply = [format!("reply {i}").into_bytes(), b"part two".to_vec()];
        rep.send_multipart(&reply, 0)
            .unwrap_or_else(|e| panic!("send reply {i}: {e}"));
        let got = req
            .recv_multipart(0)
            .unwrap_or_else(|e| panic!("receive reply {i}: {e}"));
        assert_eq!(got, reply, "round trip {i}: the reply");
    }};
}

/// `n` [`round_trip!`](crate::round_trip)s, numbered from 0, between `req` and `rep`,
/// a vtx socket, which must then name the peer of the last one `peer…` (a scheme and a
/// host: `udp://127.0.0.1:`).
#[macro_export]
macro_rules! req_rep {
    ($req:expr, $rep:expr, $n:expr, $peer:expr) => {{
        let (req, rep) = (&$req, &$rep);
        for i in 0..$n {
            $crate::round_trip!(req, rep, i);
        }
        let last = rep
            .last_peer()
            .unwrap_or_else(|e| panic!("last-peer: {e}"))
            .unwrap_or_default();
        assert!(last.starts_with($peer), "the last peer: {last:?}");
    }};
}

/// Sends `n` numbered messages (a `u32`, big-endian) from `push`, moved to a thread of
/// its own, while `pull` checks that each arrives, once and in order; evaluates to
/// `push`, back from its thread.
#[macro_export]
macro_rules! send_in_order {
    ($push:expr, $pull:expr, $n:expr) => {{
        let (push, pull, n): (_, _, u32) = ($push, &$pull, $n);
        let sender = ::std::thread::spawn(move || {
            for i in 0..n {
                push.send(&i.to_be_bytes()[..], 0)
                    .unwrap_or_else(|e| panic!("send {i}: {e}"));
            }
            push
        });
        for i in 0..n {
            let m = pull
                .recv_bytes(0)
                .unwrap_or_else(|e| panic!("message {i}: {e}"));
            assert_eq!(m, i.to_be_bytes(), "message {i}: in order, none lost");
        }
        sender
            .join()
            .unwrap_or_else(|_| panic!("the sending thread panicked"))
    }};
}

/// Publishes `msgs` (a `&[&[u8]]`, in order, again and again) until `sub` receives a
/// message, and evaluates to that message: subscriptions travel asynchronously, as in
/// libzmq. Panics if nothing arrives within `limit`; `sub`'s receive timeout is as it
/// was after.
#[macro_export]
macro_rules! publish_until {
    ($publisher:expr, $sub:expr, $msgs:expr, $limit:expr) => {{
        let (publisher, sub) = (&$publisher, &$sub);
        let msgs: &[&[u8]] = $msgs;
        let timeout = sub
            .get_rcvtimeo()
            .unwrap_or_else(|e| panic!("RCVTIMEO: {e}"));
        sub.set_rcvtimeo(50)
            .unwrap_or_else(|e| panic!("RCVTIMEO: {e}"));
        let mut got = None;
        $crate::testing::wait_until("a message for the subscriber", $limit, || {
            for m in msgs {
                publisher
                    .send(*m, 0)
                    .unwrap_or_else(|e| panic!("publish: {e}"));
            }
            got = sub.recv_bytes(0).ok();
            got.is_some()
        });
        sub.set_rcvtimeo(timeout)
            .unwrap_or_else(|e| panic!("RCVTIMEO: {e}"));
        got.unwrap_or_default()
    }};
}

/// A message each way over every pair of socket types in [`PAIRS`], each pair of vtx
/// sockets made by `pair(client type, server type)`, which returns them, the client
/// connected to the server: once the client has a peering (within `limit`), the side
/// that can send sends two frames (after the envelope its peer needs), which the other
/// must receive as sent; a ROUTER server answers, and its client must receive the
/// answer. An XSUB's message is a subscription, which its XPUB must receive as sent.
#[macro_export]
macro_rules! every_pair {
    ($pair:expr, $limit:expr) => {{
        let mut pair = $pair;
        for (a, b) in $crate::testing::sockets::PAIRS {
            let (client, server) = pair(a, b);
            let what = format!("{a:?} -> {b:?}");
            $crate::testing::wait_until(&format!("{what}: a peering"), $limit, || {
                $crate::Peered::peered(&client)
            });
            let body = format!("{a:?}->{b:?}").into_bytes();
            if a == ::zmq::XSUB {
                let subscription = [&[1u8][..], &body].concat();
                client
                    .send(&subscription[..], 0)
                    .unwrap_or_else(|e| panic!("{what}: send: {e}"));
                let got = server
                    .recv_multipart(0)
                    .unwrap_or_else(|e| panic!("{what}: receive: {e}"));
                assert_eq!(got, [subscription], "{what}");
                continue;
            }
            let frames = [body, b"part two".to_vec()];
            let mut out = frames.to_vec();
            if a == ::zmq::DEALER && b == ::zmq::REP {
                out.insert(0, Vec::new());
            }
            if a == ::zmq::ROUTER {
                // The dealer says hello first, so the router learns its identity.
                server
                    .send(&b"hi"[..], 0)
                    .unwrap_or_else(|e| panic!("{what}: hello: {e}"));
                let hi = client
                    .recv_multipart(0)
                    .unwrap_or_else(|e| panic!("{what}: hello: {e}"));
                out.insert(0, hi[0].clone());
            }
            let got = if a == ::zmq::PULL {
                server
                    .send_multipart(&out, 0)
                    .and_then(|()| client.recv_multipart(0))
            } else {
                client
                    .send_multipart(&out, 0)
                    .and_then(|()| server.recv_multipart(0))
            };
            let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
            if b == ::zmq::ROUTER {
                // The identity first, and a REQ's empty delimiter.
                assert!(
                    got.ends_with(&frames) && got.len() <= frames.len() + 2,
                    "{what}: {got:?}"
                );
            } else {
                assert_eq!(got, frames, "{what}");
            }
            if b == ::zmq::ROUTER {
                server
                    .send_multipart([got[0].clone(), Vec::new(), b"back".to_vec()], 0)
                    .unwrap_or_else(|e| panic!("{what}: the answer: {e}"));
                let answer = client
                    .recv_multipart(0)
                    .unwrap_or_else(|e| panic!("{what}: the answer: {e}"));
                assert_eq!(answer.last(), Some(&b"back".to_vec()), "{what}: the answer");
            }
        }
    }};
}

/// Receives `n` messages on a ROUTER (a vtx socket), each `hello` from a peer, and
/// answers each with `ack`; evaluates to the set of identities they came from. A
/// receive that fails panics with the socket's counters.
#[macro_export]
macro_rules! answer_all {
    ($router:expr, $n:expr) => {{
        let (router, n) = (&$router, $n);
        let mut identities = ::std::collections::HashSet::new();
        for k in 0..n {
            let m = router.recv_multipart(0).unwrap_or_else(|e| {
                let meta = |key| router.meta(key).ok().flatten().unwrap_or_default();
                panic!(
                    "after {k} messages: {e}; msgs-in {}, dropped {} (app-full {}), \
                     protocol-errors {}, peers {}",
                    meta("msgs-in"),
                    meta("dropped"),
                    meta("dropped-app-full"),
                    meta("protocol-errors"),
                    meta("peers")
                )
            });
            assert_eq!(m[1], b"hello", "message {k}");
            router
                .send_multipart([m[0].clone(), b"ack".to_vec()], 0)
                .unwrap_or_else(|e| panic!("answer {k}: {e}"));
            identities.insert(m[0].clone());
        }
        identities
    }};
}

/// Cancels `sub`'s subscription to `topic` and checks that the cancel holds, against a
/// publisher that is a vtx socket (it reads its `subscriptions`): a second
/// subscription, `sentinel`, is taken first; once the publisher holds only that one, a
/// message on `topic` published before a `sentinel` must not arrive before it. Each
/// wait takes at most `limit`.
#[macro_export]
macro_rules! unsubscribe_holds {
    ($publisher:expr, $sub:expr, $topic:expr, $limit:expr) => {{
        let (publisher, sub, limit) = (&$publisher, &$sub, $limit);
        let topic: &[u8] = $topic;
        let subscriptions = || {
            let n = publisher.meta("subscriptions").ok().flatten();
            n.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
        };
        let held = subscriptions();
        sub.set_subscribe(b"sentinel")
            .unwrap_or_else(|e| panic!("subscribe: {e}"));
        $crate::testing::wait_until("the sentinel subscribed", limit, || {
            subscriptions() == held + 1
        });
        sub.set_unsubscribe(topic)
            .unwrap_or_else(|e| panic!("unsubscribe: {e}"));
        $crate::testing::wait_until("the cancel applied", limit, || subscriptions() == held);
        // What the subscription let through before.
        let timeout = sub
            .get_rcvtimeo()
            .unwrap_or_else(|e| panic!("RCVTIMEO: {e}"));
        sub.set_rcvtimeo(50)
            .unwrap_or_else(|e| panic!("RCVTIMEO: {e}"));
        while sub.recv_bytes(0).is_ok() {}
        sub.set_rcvtimeo(timeout)
            .unwrap_or_else(|e| panic!("RCVTIMEO: {e}"));
        let cancelled = [topic, b": after the cancel"].concat();
        publisher
            .send(&cancelled[..], 0)
            .unwrap_or_else(|e| panic!("publish: {e}"));
        publisher
            .send(&b"sentinel"[..], 0)
            .unwrap_or_else(|e| panic!("publish: {e}"));
        let got = sub
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("the sentinel: {e}"));
        assert_eq!(got, b"sentinel", "a cancelled subscription still delivers");
    }};
}

/// A security mechanism between two vtx sockets of one manager over `$bind` (an
/// endpoint with port 0): a REP with `$server`, a REQ with `$good` gets a round trip
/// and is `$user` (its `User-Id`) at the server; a REQ with `$bad` gets no peering and
/// a failed handshake counted at the server. Evaluates to the refused client (its own
/// count is the caller's to check). `$sock(ty)` makes a socket with timeouts.
#[macro_export]
macro_rules! secured_handshakes {
    ($sock:expr, $bind:expr, $limit:expr, $server:expr, $good:expr, $bad:expr, $user:expr) => {{
        let sock = $sock;
        let rep = sock(::zmq::REP);
        rep.set_security($server)
            .unwrap_or_else(|e| panic!("server security: {e}"));
        let ep = rep
            .bind($bind)
            .unwrap_or_else(|e| panic!("bind {}: {e}", $bind));
        let req = sock(::zmq::REQ);
        req.set_security($good)
            .unwrap_or_else(|e| panic!("client security: {e}"));
        req.connect(&ep)
            .unwrap_or_else(|e| panic!("connect {ep}: {e}"));
        $crate::round_trip!(req, rep, 0);
        assert_eq!(
            rep.msg_gets("User-Id")
                .unwrap_or_else(|e| panic!("User-Id: {e}"))
                .as_deref(),
            Some($user),
            "the server knows who sent it"
        );
        assert_eq!(
            req.msg_gets("User-Id")
                .unwrap_or_else(|e| panic!("User-Id: {e}")),
            None,
            "servers get no User-Id"
        );
        let intruder = sock(::zmq::REQ);
        intruder
            .set_security($bad)
            .unwrap_or_else(|e| panic!("client security: {e}"));
        intruder
            .connect(&ep)
            .unwrap_or_else(|e| panic!("connect {ep}: {e}"));
        let count = |s: &::vtx::VtxSocket| s.stats().map_or(0, |st| st.handshake_failures);
        $crate::testing::wait_until("refused by the server", $limit, || count(&rep) >= 1);
        assert_eq!(intruder.peer_count(), 0);
        assert_eq!(rep.peer_count(), 1, "only the client it lets in");
        intruder
    }};
}

/// [`secured_handshakes!`] with PLAIN: `admin`/`secret` gets in, a wrong password not.
#[macro_export]
macro_rules! plain_handshakes {
    ($sock:expr, $bind:expr, $limit:expr) => {{
        use $crate::security::{PlainPasswords, Security};
        let server = Security::PlainServer {
            authenticator: ::std::sync::Arc::new(
                PlainPasswords::new().with_user(b"admin", b"secret"),
            ),
        };
        let (Some(good), Some(bad)) = (
            Security::plain_client(b"admin", b"secret"),
            Security::plain_client(b"admin", b"guess"),
        ) else {
            panic!("short credentials are valid")
        };
        $crate::secured_handshakes!($sock, $bind, $limit, server, good, bad, "admin")
    }};
}

/// [`secured_handshakes!`] with CURVE: the allowed client key gets in (its Z85 is its
/// `User-Id`), another key pair not.
#[macro_export]
macro_rules! curve_handshakes {
    ($sock:expr, $bind:expr, $limit:expr) => {{
        use $crate::security::{AllowedKeys, Security, z85_encode};
        use $crate::zmtp::curve::keypair_from;
        let (server_pub, server_sec) = keypair_from([1; 32]);
        let (client_pub, client_sec) = keypair_from([2; 32]);
        let (_, stranger_sec) = keypair_from([3; 32]);
        let client_pub = z85_encode(&client_pub);
        let server_pub = z85_encode(&server_pub);
        let allowed = AllowedKeys::new().with_key(&client_pub);
        let (Some(allowed), Some(good), Some(bad)) = (
            allowed,
            Security::curve_client(&server_pub, &z85_encode(&client_sec)),
            Security::curve_client(&server_pub, &z85_encode(&stranger_sec)),
        ) else {
            panic!("keys made by keypair_from are Z85 keys")
        };
        let Some(server) =
            Security::curve_server(&[&z85_encode(&server_sec)], ::std::sync::Arc::new(allowed))
        else {
            panic!("a Z85 secret key makes a CURVE server")
        };
        $crate::secured_handshakes!($sock, $bind, $limit, server, good, bad, client_pub.as_str())
    }};
}

/// [`secured_handshakes!`] with ZMTP-SASL `$mechanism` (a
/// [`SaslMechanism`](crate::sasl::SaslMechanism) that proves a password):
/// `alice`/`wonderland` gets in as `alice`, a wrong password not.
#[macro_export]
macro_rules! sasl_handshakes {
    ($sock:expr, $bind:expr, $limit:expr, $mechanism:expr) => {{
        use $crate::sasl::{SaslClient, SaslServer, ScramUsers};
        use $crate::security::{AllowAny, Security};
        let m = $mechanism;
        let users =
            ScramUsers::new().with_password("alice", "wonderland", b"0123456789abcdef", 4096);
        let server = Security::SaslServer(::std::sync::Arc::new(SaslServer::new(
            m,
            ::std::sync::Arc::new(users),
            ::std::sync::Arc::new(AllowAny),
            [5; 32],
        )));
        let (Some(good), Some(bad)) = (
            SaslClient::new(m, "alice", "wonderland"),
            SaslClient::new(m, "alice", "wonderlan"),
        ) else {
            panic!("short credentials are valid")
        };
        let (good, bad) = (
            Security::SaslClient(::std::sync::Arc::new(good)),
            Security::SaslClient(::std::sync::Arc::new(bad)),
        );
        $crate::secured_handshakes!($sock, $bind, $limit, server, good, bad, "alice")
    }};
}
