//! The glue between the kit and `vtx`'s manager that every crate's end-to-end tests
//! need: a manager with a transport registered, sockets that give up instead of
//! hanging, bound sockets and connected pairs, waits on peerings, counters.
//!
//! A macro, [`vtx_harness!`](crate::vtx_harness), because `vtx::Vtx` and
//! `vtx::VtxSocket` live above this crate: it writes the functions into the calling
//! test crate (which depends on `vtx` and `zmq`), once per crate, in the module its
//! tests share:
//!
//! ```ignore
//! // tests/common/mod.rs
//! vtx_emul::vtx_harness! {
//!     bind: "udp://127.0.0.1:0",
//!     limit: std::time::Duration::from_secs(5),
//! }
//! ```

/// Writes the harness functions into the calling module: `LIMIT` (the `limit`: how
/// long a socket's sends and receives, and each wait, take at most), `manager(scheme,
/// transport)`, `sock(vtx, type)`, `bind(vtx, type)` (at the `bind` endpoint, an
/// expression evaluated at each bind), `pair(vtx, client type, server type)`,
/// `subscriber(vtx, topic, publisher, endpoint)`, `wait_peers(socket, n)` and
/// `meta(socket, key)`. See [the module](crate::testing::harness).
#[macro_export]
macro_rules! vtx_harness {
    (bind: $bind:expr, limit: $limit:expr $(,)?) => {
        /// How long a socket's sends and receives, and each wait, take at most.
        #[allow(dead_code)]
        pub(crate) const LIMIT: ::std::time::Duration = $limit;

        /// A manager with `transport` registered under `scheme`.
        #[allow(dead_code)]
        pub(crate) fn manager(
            scheme: &str,
            transport: impl ::vtx::Transport,
        ) -> (::zmq::Context, ::vtx::Vtx) {
            let ctx = ::zmq::Context::new();
            let vtx = ::vtx::Vtx::new(&ctx);
            vtx.register(scheme, transport)
                .unwrap_or_else(|e| panic!("register {scheme}: {e}"));
            (ctx, vtx)
        }

        /// A socket whose sends and receives give up after [`LIMIT`].
        #[allow(dead_code)]
        pub(crate) fn sock(vtx: &::vtx::Vtx, ty: ::zmq::SocketType) -> ::vtx::VtxSocket {
            let s = vtx
                .socket(ty)
                .unwrap_or_else(|e| panic!("a {ty:?} socket: {e}"));
            let ms = LIMIT.as_millis() as i32;
            s.set_rcvtimeo(ms)
                .and_then(|()| s.set_sndtimeo(ms))
                .unwrap_or_else(|e| panic!("timeouts: {e}"));
            s
        }

        /// A socket bound to the harness's endpoint, and the endpoint it bound: the one
        /// asked for, with the port picked for a port 0.
        #[allow(dead_code)]
        pub(crate) fn bind(
            vtx: &::vtx::Vtx,
            ty: ::zmq::SocketType,
        ) -> (::vtx::VtxSocket, ::std::string::String) {
            let s = sock(vtx, ty);
            let endpoint = ::std::string::String::from($bind);
            let bound = s
                .bind(&endpoint)
                .unwrap_or_else(|e| panic!("bind {endpoint}: {e}"));
            $crate::testing::addr::assert_bound(&endpoint, &bound);
            (s, bound)
        }

        /// A `server` socket bound, and a `client` connected to it, once the client
        /// has the peering: (client, server).
        #[allow(dead_code)]
        pub(crate) fn pair(
            vtx: &::vtx::Vtx,
            client: ::zmq::SocketType,
            server: ::zmq::SocketType,
        ) -> (::vtx::VtxSocket, ::vtx::VtxSocket) {
            let (s, endpoint) = bind(vtx, server);
            let c = sock(vtx, client);
            c.connect(&endpoint)
                .unwrap_or_else(|e| panic!("connect {endpoint}: {e}"));
            wait_peers(&c, 1);
            (c, s)
        }

        /// A SUB subscribed to `topic` and connected to `endpoint`, once `publisher`,
        /// bound there, has the peering.
        #[allow(dead_code)]
        pub(crate) fn subscriber(
            vtx: &::vtx::Vtx,
            topic: &[u8],
            publisher: &::vtx::VtxSocket,
            endpoint: &str,
        ) -> ::vtx::VtxSocket {
            let peers = publisher.peer_count();
            let sub = sock(vtx, ::zmq::SUB);
            sub.set_subscribe(topic)
                .unwrap_or_else(|e| panic!("subscribe: {e}"));
            sub.connect(endpoint)
                .unwrap_or_else(|e| panic!("connect {endpoint}: {e}"));
            wait_peers(publisher, peers + 1);
            sub
        }

        /// Waits until `s` has `n` peerings.
        #[allow(dead_code)]
        pub(crate) fn wait_peers(s: &::vtx::VtxSocket, n: usize) {
            $crate::testing::wait_for_count("peerings", LIMIT, n, || s.peer_count());
        }

        /// A counter of `s` (0 while it has none).
        #[allow(dead_code)]
        pub(crate) fn meta(s: &::vtx::VtxSocket, key: &str) -> u64 {
            let value = s.meta(key).unwrap_or_else(|e| panic!("{key}: {e}"));
            value.map_or(0, |v| {
                v.parse()
                    .unwrap_or_else(|e| panic!("{key} = {v}: not a count: {e}"))
            })
        }
    };
}
