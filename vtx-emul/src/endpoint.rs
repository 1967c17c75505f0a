//! Endpoint strings: `scheme://host:port` (and `scheme://name` for transports without ports).
//!
//! Parsing is total: any input gives an [`Endpoint`] or a [`crate::Error::BadEndpoint`],
//! never a panic (fuzzed by `fuzz/fuzz_targets/endpoint.rs`).
//!
//! Host names are resolved by [`Endpoint::resolve_names`] on the thread that binds or
//! connects (the application's, in [`crate::runtime::DriverHandle`]), never on a driver
//! thread: a slow resolver would stall every socket of the driver. The driver reads the
//! addresses resolved then.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::{Error, Result};

/// Longest endpoint accepted, in bytes (libzmq limits inproc names to 256).
pub const MAX_ENDPOINT_LEN: usize = 1024;

/// A parsed endpoint: the scheme, and the rest as the transport will read it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    text: String,
    scheme_len: usize,
    /// What the host name resolved to, once [`Endpoint::resolve_names`] ran.
    resolved: Option<Arc<[SocketAddr]>>,
}

impl Endpoint {
    /// Splits `scheme://rest`, checking the scheme's characters and the overall length.
    pub fn parse(text: &str) -> Result<Endpoint> {
        if text.len() > MAX_ENDPOINT_LEN {
            let head: String = text.chars().take(64).collect();
            return Err(Error::bad_endpoint(&head, "too long"));
        }
        let Some(scheme_len) = text.find("://") else {
            return Err(Error::bad_endpoint(text, "expected scheme://address"));
        };
        let scheme = &text[..scheme_len];
        let valid = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid {
            return Err(Error::bad_endpoint(
                text,
                "scheme must be letters, digits, '+', '-' or '.'",
            ));
        }
        if text.len() == scheme_len + 3 {
            return Err(Error::bad_endpoint(text, "address is empty"));
        }
        Ok(Endpoint {
            text: text.to_owned(),
            scheme_len,
            resolved: None,
        })
    }

    /// Resolves the host name of a `host:port` endpoint, blocking the calling thread
    /// (call it off the driver thread); a literal address, `*` or an endpoint of another
    /// form needs nothing. A name that does not resolve is an
    /// [`crate::Error::AddressNotAvailable`].
    pub fn resolve_names(&mut self) -> Result<()> {
        let Ok(hp) = self.host_port() else {
            return Ok(()); // not host:port: the transport reads it its own way
        };
        if !matches!(hp.host, Host::Name(_)) {
            return Ok(());
        }
        let addrs = hp.resolve(false).map_err(|e| Error::AddressNotAvailable {
            endpoint: self.to_string(),
            reason: e.to_string(),
        })?;
        self.resolved = Some(addrs.into());
        Ok(())
    }

    /// The socket addresses of a `host:port` endpoint, without blocking: `*` is the
    /// unspecified address (IPv6 and dual stack when `dual_stack`), a name gives what
    /// [`Endpoint::resolve_names`] found.
    pub fn addrs(&self, dual_stack: bool) -> Result<Vec<SocketAddr>> {
        let hp = self.host_port()?;
        match (&hp.host, &self.resolved) {
            (Host::Name(_), Some(addrs)) => Ok(addrs.to_vec()),
            (Host::Name(name), None) => Err(Error::AddressNotAvailable {
                endpoint: self.to_string(),
                reason: format!("{name} was not resolved before reaching the driver"),
            }),
            _ => hp
                .resolve(dual_stack)
                .map_err(|e| Error::AddressNotAvailable {
                    endpoint: self.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// The scheme (`udp`, `tcp6`, ...), which names the driver.
    pub fn scheme(&self) -> &str {
        &self.text[..self.scheme_len]
    }

    /// Everything after `://`.
    pub fn address(&self) -> &str {
        &self.text[self.scheme_len + 3..]
    }

    /// The endpoint as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Reads the address as `host:port`, the form every IP transport uses.
    pub fn host_port(&self) -> Result<HostPort> {
        HostPort::parse(self.address()).map_err(|reason| Error::bad_endpoint(&self.text, reason))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The host part of an IP endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every local address.
    Any,
    /// A literal address (`127.0.0.1`, `[::1]`).
    Ip(IpAddr),
    /// A name to resolve.
    Name(String),
}

/// `host:port` as in `udp://*:32000`, `tcp6://[::1]:5555`, `tls://example.org:443`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host.
    pub host: Host,
    /// The port; 0 asks the system for one when binding.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`; IPv6 literals go in brackets.
    pub fn parse(s: &str) -> std::result::Result<HostPort, String> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let close = rest.find(']').ok_or("unclosed '[' in IPv6 address")?;
            let literal = &rest[..close];
            let port = rest[close + 1..]
                .strip_prefix(':')
                .ok_or("expected ':port' after ']'")?;
            let ip: Ipv6Addr = literal
                .parse()
                .map_err(|_| format!("bad IPv6 address `{literal}`"))?;
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let colon = s.rfind(':').ok_or("expected host:port")?;
            let (h, p) = (&s[..colon], &s[colon + 1..]);
            let host = if h == "*" {
                Host::Any
            } else if let Ok(ip) = h.parse::<Ipv4Addr>() {
                Host::Ip(IpAddr::V4(ip))
            } else if h.contains(':') {
                return Err("IPv6 addresses must be written in brackets: [::1]:port".into());
            } else if valid_hostname(h) {
                Host::Name(h.to_owned())
            } else {
                return Err(format!("bad host `{h}`"));
            };
            (host, p)
        };
        let port = if port == "*" {
            0
        } else {
            port.parse::<u16>()
                .map_err(|_| format!("bad port `{port}`"))?
        };
        Ok(HostPort { host, port })
    }

    /// Resolves to socket addresses. `Any` yields the unspecified address of the given family
    /// preference: IPv6 first when `dual_stack` (the socket then also takes IPv4). A name
    /// asks the system resolver, which blocks: drivers use [`Endpoint::addrs`].
    pub fn resolve(&self, dual_stack: bool) -> std::io::Result<Vec<SocketAddr>> {
        match &self.host {
            Host::Any if dual_stack => Ok(vec![SocketAddr::new(
                Ipv6Addr::UNSPECIFIED.into(),
                self.port,
            )]),
            Host::Any => Ok(vec![SocketAddr::new(
                Ipv4Addr::UNSPECIFIED.into(),
                self.port,
            )]),
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Name(name) => {
                let addrs: Vec<_> = (name.as_str(), self.port).to_socket_addrs()?.collect();
                if addrs.is_empty() {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{name}: no address"),
                    ))
                } else {
                    Ok(addrs)
                }
            }
        }
    }
}

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Formats a socket address the way endpoints write it (`[::1]:5555`, `127.0.0.1:5555`),
/// mapping IPv4-mapped IPv6 addresses back to IPv4.
pub fn format_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", v6.port()),
            None => format!("[{}]:{}", v6.ip(), v6.port()),
        },
        SocketAddr::V4(v4) => v4.to_string(),
    }
}

impl Endpoint {
    /// Binds the first address the endpoint resolves to (`*` is dual stack) with
    /// `open`, which returns what it bound and its local address; returns that and
    /// the endpoint actually bound, `scheme://addr`, with the port the system chose
    /// (like libzmq's `ZMQ_LAST_ENDPOINT`; the dual-stack wildcard written `[::]`).
    pub fn bind_with<T>(
        &self,
        mut open: impl FnMut(SocketAddr) -> std::io::Result<(T, SocketAddr)>,
    ) -> Result<(T, String)> {
        let addrs = self.addrs(true)?;
        let mut last = None;
        for addr in addrs {
            match open(addr) {
                Ok((bound, local)) => {
                    let shown = match local {
                        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
                            format!("[{}]:{}", Ipv6Addr::UNSPECIFIED, v6.port())
                        }
                        other => format_addr(other),
                    };
                    return Ok((bound, format!("{}://{shown}", self.scheme())));
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address")
        });
        Err(Error::from_bind(self.as_str(), e))
    }

    /// The addresses a connect endpoint names: it needs a host and a port (`*` and
    /// port 0 are for binding); a name gives what [`Endpoint::resolve_names`] found.
    pub fn connect_addrs(&self) -> Result<Vec<SocketAddr>> {
        let hp = self.host_port()?;
        if hp.host == Host::Any || hp.port == 0 {
            return Err(Error::bad_endpoint(
                self.as_str(),
                "connect needs a host and a port",
            ));
        }
        let addrs = self.addrs(false)?;
        if addrs.is_empty() {
            return Err(Error::AddressNotAvailable {
                endpoint: self.to_string(),
                reason: "no address".into(),
            });
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let e = Endpoint::parse("udp://*:32000").unwrap();
        assert_eq!(e.scheme(), "udp");
        assert_eq!(
            e.host_port().unwrap(),
            HostPort {
                host: Host::Any,
                port: 32000
            }
        );
        let e = Endpoint::parse("tcp6://[::1]:5555").unwrap();
        assert_eq!(
            e.host_port().unwrap().host,
            Host::Ip("::1".parse().unwrap())
        );
        let e = Endpoint::parse("tls://example.org:443").unwrap();
        assert_eq!(
            e.host_port().unwrap().host,
            Host::Name("example.org".into())
        );
        let e = Endpoint::parse("sctp+kernel://127.0.0.1:0").unwrap();
        assert_eq!(e.scheme(), "sctp+kernel");
        assert_eq!(e.host_port().unwrap().port, 0);
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "udp", "udp://", "://x:1", "u dp://x:1", "udp:/x:1"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "x",
            "host:",
            "host:99999",
            "[::1]5555",
            "[::1:5",
            "::1:5555",
            "a..b:1",
            "[zz]:1",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Endpoint::parse(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn formats_mapped_addresses_as_ipv4() {
        let a: SocketAddr = "[::ffff:127.0.0.1]:9".parse().unwrap();
        assert_eq!(format_addr(a), "127.0.0.1:9");
        let a: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(format_addr(a), "[::1]:9");
    }
}
