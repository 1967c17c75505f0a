//! Test PKI generated at test time with rcgen, and helpers.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use vtx::{Vtx, VtxSocket};
use vtx_tls::TlsConfig;

static N: AtomicU32 = AtomicU32::new(0);

/// A CA and PEM files in a private temporary directory.
pub struct Pki {
    pub dir: PathBuf,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    pub ca: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "vtx-tls-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("vtx test CA {name}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, cert.pem()).unwrap();
        Pki {
            dir,
            ca_params: params,
            ca_key: key,
            ca,
        }
    }

    /// Issues a certificate for `names` (DNS names or IP addresses); returns (cert, key) paths.
    pub fn issue(&self, file: &str, cn: &str, names: &[&str], expired: bool) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        if expired {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A server certificate valid for localhost, 127.0.0.1 and ::1.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        self.issue(
            "server",
            "vtx server",
            &["localhost", "127.0.0.1", "::1"],
            false,
        )
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
}

/// A config with the server certificate of `pki` and trusting its CA.
pub fn config(pki: &Pki) -> TlsConfig {
    let (c, k) = pki.server();
    TlsConfig::builder()
        .server_cert_pem(&c, &k)
        .unwrap()
        .trust_pem(&pki.ca)
        .unwrap()
        .build()
        .unwrap()
}

pub fn manager(cfg: TlsConfig) -> (zmq::Context, Vtx) {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("tls", vtx_tls::transport(cfg)).unwrap();
    (ctx, vtx)
}

pub fn sock(vtx: &Vtx, ty: zmq::SocketType) -> VtxSocket {
    let s = vtx.socket(ty).unwrap();
    s.set_rcvtimeo(5000).unwrap();
    s.set_sndtimeo(5000).unwrap();
    s
}

pub fn port_of(ep: &str) -> u16 {
    ep.rsplit(':').next().unwrap().parse().unwrap()
}

pub fn wait_meta(s: &VtxSocket, key: &str, at_least: u64) -> u64 {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let v: u64 = s
            .meta(key)
            .unwrap()
            .unwrap_or_default()
            .parse()
            .unwrap_or(0);
        if v >= at_least {
            return v;
        }
        assert!(Instant::now() < end, "{key} stayed at {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn wait_peers(s: &VtxSocket, n: usize) {
    let end = Instant::now() + Duration::from_secs(5);
    while s.peer_count().unwrap() < n {
        assert!(Instant::now() < end, "peers never came up");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
