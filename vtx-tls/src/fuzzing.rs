//! Entry point for the `tls_server` fuzz target: hostile bytes to the server side of a
//! TLS + ZMTP session, with no socket.

use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use rustls::{ServerConfig, ServerConnection};
use vtx_emul::SocketType;
use vtx_emul::stream::{Local, OutBuf, Role, Session};
use vtx_emul::zmtp::ZmtpSession;

fn server_config() -> Option<Arc<ServerConfig>> {
    static CONFIG: OnceLock<Option<Arc<ServerConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // A fixed self-signed P-256 key and certificate, generated once for fuzzing.
            let chain = crate::certs_from_pem_bytes(FUZZ_CERT)?;
            let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(FUZZ_KEY.as_bytes()).ok()?;
            let cfg = crate::TlsConfig::builder()
                .server_cert(chain, key)
                .build()
                .ok()?;
            cfg.server
        })
        .clone()
}

use rustls_pki_types::pem::PemObject;

/// Feeds `data`, in chunks of `chunk` bytes, to a TLS server whose plaintext goes to a
/// ZMTP session. Returns how many ZMTP events came out (none, for random bytes).
pub fn feed_server(data: &[u8], chunk: usize) -> usize {
    let Some(config) = server_config() else {
        return 0;
    };
    let Ok(mut tls) = ServerConnection::new(config) else {
        return 0;
    };
    let local = Local {
        socket_type: SocketType::Rep,
        identity: None,
        metadata: Vec::new(),
        max_msg_size: Some(1 << 20),
        security: Default::default(),
        seed: None,
        peer_address: String::new(),
        identity_from_user: false,
    };
    let mut zmtp = ZmtpSession::new(&local, Role::Server);
    let mut out = OutBuf::new();
    zmtp.start(&mut out);
    let mut plain = BytesMut::new();
    let mut events = 0;
    for mut piece in data.chunks(chunk.max(1)) {
        while !piece.is_empty() {
            match tls.read_tls(&mut piece) {
                Ok(0) | Err(_) => return events,
                Ok(_) => {}
            }
            if tls.process_new_packets().is_err() {
                return events;
            }
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut tls.reader(), &mut buf) {
                if n == 0 {
                    return events;
                }
                plain.extend_from_slice(&buf[..n]);
            }
            loop {
                match zmtp.decode(&mut plain, &mut out) {
                    Ok(Some(_)) => events += 1,
                    Ok(None) => break,
                    Err(_) => return events,
                }
            }
            // Our side's records (ServerHello...) are discarded: nobody reads them.
            let mut sink = Vec::new();
            while tls.wants_write() {
                if tls.write_tls(&mut sink).is_err() {
                    break;
                }
                sink.clear();
            }
        }
    }
    events
}

const FUZZ_CERT: &str = include_str!("fuzz-cert.pem");
const FUZZ_KEY: &str = include_str!("fuzz-key.pem");
