//! Endpoints and ports in tests: what a bound endpoint says, and a port to hand a peer
//! that takes one as a number.

use std::net::{SocketAddr, UdpSocket};

/// The port at the end of an endpoint or address (`udp://127.0.0.1:5555`,
/// `tcp://[::1]:5555`, `127.0.0.1:5555`).
pub fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint}"))
}

/// The socket address of an endpoint with a numeric host (`udp://127.0.0.1:5555`,
/// `tcp6://[::1]:5555`).
pub fn socket_addr_of(endpoint: &str) -> SocketAddr {
    let (_, addr) = endpoint
        .split_once("://")
        .unwrap_or_else(|| panic!("no scheme in {endpoint}"));
    addr.parse()
        .unwrap_or_else(|e| panic!("{endpoint}: not a socket address: {e}"))
}

/// Panics unless `bound` is what binding `asked` must say: `asked` itself, or for a
/// port 0 (`udp://127.0.0.1:0`, `ws://127.0.0.1:0/path`) the same with the port
/// picked, not 0.
pub fn assert_bound(asked: &str, bound: &str) {
    let (_, rest) = asked.split_once("://").unwrap_or(("", asked));
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let picked = asked
        .strip_suffix(path)
        .and_then(|a| a.strip_suffix(":0"))
        .and_then(|host| bound.strip_prefix(host)?.strip_prefix(':'))
        .and_then(|port| port.strip_suffix(path))
        .is_some_and(|port| port.parse::<u16>().is_ok_and(|p| p != 0));
    assert!(
        picked || bound == asked,
        "bound {bound} when asked for {asked}"
    );
}

/// `endpoint` under another scheme: `with_scheme("tcp6://[::1]:5555", "tcp")` is the
/// endpoint a native libzmq socket reaches a `tcp6` one by.
pub fn with_scheme(endpoint: &str, scheme: &str) -> String {
    let (_, addr) = endpoint
        .split_once("://")
        .unwrap_or_else(|| panic!("no scheme in {endpoint}"));
    format!("{scheme}://{addr}")
}

/// A UDP port on loopback that was free a moment ago, for a peer that takes its port as
/// a number: run it where nothing else can take the port meanwhile (a network namespace
/// of its own).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("a free UDP port: {e}"))
}
