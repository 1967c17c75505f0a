//! The TLS record layer as a stream [`Link`]: rustls driven sans-IO (`read_tls`,
//! `process_new_packets`, `write_tls`) over a non-blocking TCP stream the runtime's
//! poller owns. ZMTP runs on the plaintext side, unchanged.
//!
//! Buffering stays bounded: ciphertext is read only when no plaintext is waiting, and
//! rustls caps what it holds (records of at most 16 KiB; a larger length is an error).

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream};
use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};
use rustls_pki_types::ServerName;
use smallvec::SmallVec;
use vtx_emul::endpoint::Host;
use vtx_emul::stream::tcp::TcpNetwork;
use vtx_emul::stream::{ChannelFacts, Link, Network};
use vtx_emul::{Endpoint, Error, Result, SocketOptions};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use zeroize::Zeroizing;

use crate::config::TlsConfig;

/// What rustls 0.23 reads from TCP per `read_tls` at most.
const RUSTLS_READ: usize = 4096;
/// Ciphertext read from TCP per read once traffic is heavy: rustls is then fed from this
/// buffer, not from the socket (a 64 KiB message would otherwise cost 16 reads).
const CIPHER_READ: usize = 64 * 1024;

/// One TLS connection.
pub struct TlsLink {
    tcp: TcpStream,
    tls: Connection,
    identity_from_cert: bool,
    /// The TCP stream reached end of file.
    eof: bool,
    /// Ciphertext read and not yet given to rustls: `cipher[fed..filled]`. Freed when
    /// TCP has no more, so an idle link holds none.
    cipher: Vec<u8>,
    fed: usize,
    filled: usize,
}

impl std::fmt::Debug for TlsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLink")
            .field("handshaking", &self.tls.is_handshaking())
            .finish()
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    // InvalidData: the stream transport counts and logs it as a refused peer.
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl TlsLink {
    fn new(tcp: TcpStream, tls: Connection, identity_from_cert: bool) -> TlsLink {
        TlsLink {
            tcp,
            tls,
            identity_from_cert,
            eof: false,
            cipher: Vec::new(),
            fed: 0,
            filled: 0,
        }
    }

    /// Gives rustls ciphertext: what is buffered, else one read from TCP. While traffic
    /// is light rustls reads from TCP itself; a read that filled its 4 KiB means more
    /// is waiting, and from then until TCP runs dry reads go through a 64 KiB buffer.
    /// `Ok(false)` at end of stream (rustls is told too).
    fn feed(&mut self) -> io::Result<bool> {
        if self.fed == self.filled {
            if self.cipher.is_empty() {
                let n = self.tls.read_tls(&mut self.tcp)?;
                if n >= RUSTLS_READ {
                    self.cipher = vec![0; CIPHER_READ];
                }
                return Ok(n > 0);
            }
            (self.fed, self.filled) = (0, 0);
            match Read::read(&mut self.tcp, &mut self.cipher) {
                Ok(0) => {
                    self.cipher = Vec::new();
                    // An empty read tells rustls the stream ended (truncation is then
                    // an error it can see).
                    self.tls.read_tls(&mut &[][..])?;
                    return Ok(false);
                }
                Ok(n) => self.filled = n,
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        // Idle: the link holds no buffer.
                        self.cipher = Vec::new();
                    }
                    return Err(e);
                }
            }
        }
        let mut rest = &self.cipher[self.fed..self.filled];
        self.fed += self.tls.read_tls(&mut rest)?;
        Ok(true)
    }

    /// Writes pending TLS records. `Ok(true)` when none remain.
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn leaf(&self) -> Option<X509Certificate<'_>> {
        let der = self.tls.peer_certificates()?.first()?;
        X509Certificate::from_der(der).ok().map(|(_, c)| c)
    }

    /// The verified peer certificate's first DNS name, else its subject's common name.
    fn cert_name(&self) -> Option<Bytes> {
        let dns = self
            .sans()
            .into_iter()
            .find_map(|s| s.strip_prefix("DNS:").map(str::to_owned));
        let name = dns.or_else(|| {
            let cert = self.leaf()?;
            let cn = cert
                .subject()
                .iter_common_name()
                .next()?
                .as_str()
                .ok()?
                .to_owned();
            Some(cn)
        })?;
        Some(Bytes::from(name.into_bytes()))
    }

    fn sans(&self) -> Vec<String> {
        let Some(cert) = self.leaf() else {
            return Vec::new();
        };
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return Vec::new();
        };
        san.value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => Some(format!(
                        "IP:{}",
                        std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])
                    )),
                    16 => <[u8; 16]>::try_from(*ip)
                        .ok()
                        .map(|b| format!("IP:{}", std::net::Ipv6Addr::from(b))),
                    _ => None,
                },
                GeneralName::RFC822Name(m) => Some(format!("email:{m}")),
                GeneralName::URI(u) => Some(format!("URI:{u}")),
                _ => None,
            })
            .collect()
    }
}

impl Link for TlsLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Plaintext first: ciphertext is read only when none waits (bounded buffers).
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer sent close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP closed without close_notify: the peer went away.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match self.feed() {
                Ok(false) => self.eof = true,
                Ok(true) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Handshake messages the last records called for go out now.
                    self.flush_tls()?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                // Tell the peer why (the alert rustls queued), then give up on it.
                let _ = self.flush_tls();
                return Err(tls_error(e));
            }
            self.flush_tls()?;
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut done = 0;
        loop {
            // Plaintext into rustls (bounded by its buffer limit), records out to TCP.
            // All slices in one call, so records span them: a frame header is not a
            // record of its own.
            let mut skip = done;
            let rest: SmallVec<[IoSlice<'_>; 64]> = bufs
                .iter()
                .filter_map(|b| {
                    let from = skip.min(b.len());
                    skip -= from;
                    (from < b.len()).then(|| IoSlice::new(&b[from..]))
                })
                .collect();
            let wrote = self.tls.writer().write_vectored(&rest)?;
            done += wrote;
            let flushed = self.flush_tls()?;
            // Stop when all is taken, or the socket is full (a writable edge will come).
            // If rustls took nothing although its records all went out, stop too
            // (still handshaking with a full buffer): the handshake's reads resume us.
            if done == total || !flushed || wrote == 0 {
                break;
            }
        }
        if done == 0 && total > 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(done)
    }

    fn connected(&mut self) -> io::Result<bool> {
        Link::connected(&mut self.tcp)
    }

    fn flush_link(&mut self) -> io::Result<bool> {
        self.flush_tls()
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        // close_notify, then TCP's FIN once every record is out.
        self.tls.send_close_notify();
        if !self.flush_tls()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.tcp.shutdown(std::net::Shutdown::Write)
    }

    fn meta(&self, key: &str) -> Option<String> {
        match key {
            "cert-subject" => self.leaf().map(|c| c.subject().to_string()),
            "cert-san" => Some(self.sans().join(", ")).filter(|s| !s.is_empty()),
            "tls-version" => self.tls.protocol_version().map(|v| format!("{v:?}")),
            "tls-cipher" => self
                .tls
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite())),
            _ => None,
        }
    }

    fn channel(&self) -> ChannelFacts {
        if self.tls.is_handshaking() {
            return ChannelFacts::default();
        }
        // RFC 9266: the exporter with this label and no context, 32 bytes.
        let mut value = Zeroizing::new([0u8; 32]);
        let exported =
            self.tls
                .export_keying_material(&mut value[..], b"EXPORTER-Channel-Binding", None);
        ChannelFacts {
            tls_exporter: exported.is_ok().then_some(value),
            // rustls hands out peer certificates only once they verified.
            certificate_name: self
                .cert_name()
                .and_then(|n| String::from_utf8(n.to_vec()).ok()),
        }
    }

    fn peer_identity(&self) -> Option<Bytes> {
        if !self.identity_from_cert {
            return None;
        }
        // Identities come from certificates: a peer without one (or without a usable
        // name in it) gets none, never the one it announces; a ROUTER names it itself.
        Some(self.cert_name().unwrap_or_default())
    }
}

impl mio::event::Source for TlsLink {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.tcp.register(r, t, i)
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.tcp.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        self.tcp.deregister(r)
    }
}

/// A TCP listener with the server configuration of the socket that bound it.
pub struct TlsListener {
    tcp: TcpListener,
    config: Arc<ServerConfig>,
    identity_from_cert: bool,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener").finish()
    }
}

impl mio::event::Source for TlsListener {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.tcp.register(r, t, i)
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.tcp.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        self.tcp.deregister(r)
    }
}

/// Where to connect, and the name to verify there.
#[derive(Clone, Debug)]
pub struct TlsTarget {
    addr: SocketAddr,
    name: ServerName<'static>,
}

/// TLS over TCP as a stream [`Network`].
#[derive(Debug)]
pub struct TlsNetwork {
    tcp: TcpNetwork,
    defaults: TlsConfig,
}

impl TlsNetwork {
    /// A network using `defaults` unless a socket sets its own.
    pub fn new(defaults: TlsConfig) -> TlsNetwork {
        TlsNetwork {
            tcp: TcpNetwork,
            defaults,
        }
    }

    fn config<'a>(&'a self, opts: &'a SocketOptions) -> &'a TlsConfig {
        opts.transport.get::<TlsConfig>().unwrap_or(&self.defaults)
    }
}

impl Network for TlsNetwork {
    type Listener = TlsListener;
    type Link = TlsLink;
    type Target = TlsTarget;

    fn confidential(&self) -> bool {
        true
    }

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        let cfg = self.config(opts);
        let Some(config) = cfg.server.clone() else {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "binding {endpoint} needs a server certificate (TlsConfig::builder().server_cert_pem)"
                ),
            });
        };
        let identity_from_cert = cfg.identity_from_cert;
        let (tcp, bound) = self.tcp.listen(endpoint, opts)?;
        Ok((
            TlsListener {
                tcp,
                config,
                identity_from_cert,
            },
            bound,
        ))
    }

    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)> {
        let (tcp, peer) = self.tcp.accept(&listener.tcp)?;
        let tls = ServerConnection::new(listener.config.clone()).map_err(tls_error)?;
        Ok((
            TlsLink::new(tcp, Connection::Server(tls), listener.identity_from_cert),
            peer,
        ))
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target> {
        let addr = self.tcp.resolve(endpoint)?;
        let hp = endpoint.host_port()?;
        let name = match hp.host {
            Host::Ip(ip) => ServerName::IpAddress(ip.into()),
            Host::Name(n) => ServerName::try_from(n)
                .map_err(|_| Error::bad_endpoint(endpoint.as_str(), "bad server name"))?,
            Host::Any => {
                return Err(Error::bad_endpoint(
                    endpoint.as_str(),
                    "connect needs a host",
                ));
            }
        };
        Ok(TlsTarget { addr, name })
    }

    fn connect(
        &mut self,
        target: &Self::Target,
        opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)> {
        let cfg = self.config(opts);
        let Some(config) = cfg.client.clone() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tls connect needs trust roots (TlsConfig::builder().trust_pem or trust_platform)",
            ));
        };
        let name = cfg
            .server_name
            .clone()
            .unwrap_or_else(|| target.name.clone());
        let identity_from_cert = cfg.identity_from_cert;
        let (tcp, peer) = self.tcp.connect(&target.addr, opts)?;
        let tls = ClientConnection::new(config, name).map_err(tls_error)?;
        Ok((
            TlsLink::new(tcp, Connection::Client(tls), identity_from_cert),
            peer,
        ))
    }

    fn check_connect(&self, opts: &SocketOptions) -> Result<()> {
        if self.config(opts).client.is_none() {
            return Err(Error::InvalidConfig {
                reason: "tls connect needs trust roots (TlsConfig::builder().trust_pem or trust_platform)".into(),
            });
        }
        Ok(())
    }
}
