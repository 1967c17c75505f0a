//! Test support (feature `test-util`): a throwaway PKI written as PEM files, for tests
//! of TLS sockets in this crate and in others (the `vtx` command's tests pass the files
//! to child processes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::TlsConfig;

static N: AtomicU32 = AtomicU32::new(0);

/// A CA and PEM files in a private temporary directory, removed on drop.
pub struct Pki {
    /// The directory.
    pub dir: PathBuf,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    /// A new CA named after `name`.
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

    /// A file in the PKI's directory.
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
