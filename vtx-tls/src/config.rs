//! TLS settings, the rustls way: certificate chains and keys from PEM files or as
//! rustls types, trust roots from a PEM bundle or the platform store, optional client
//! certificates on either side. TLS 1.3 only, with the ring provider.
//!
//! Files are read and checked when the configuration is built, and every failure names
//! the file: a missing key, a key that does not match its certificate, an empty CA
//! bundle are [`vtx_emul::Error::Config`] errors at setup, never surprises at the first
//! message.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use vtx_emul::{Error, Result};

/// The crypto provider: ring (see the crate docs for why).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_err(what: &'static str, path: &Path, reason: impl ToString) -> Error {
    Error::Config {
        what,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads a PEM certificate chain (leaf first).
pub fn certs_from_pem(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| config_err("certificate file", path, e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| config_err("certificate file", path, e))?;
    if certs.is_empty() {
        return Err(config_err("certificate file", path, "no certificate in it"));
    }
    Ok(certs)
}

/// Parses PEM certificates from memory.
pub(crate) fn certs_from_pem_bytes(pem: &str) -> Option<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| config_err("private key file", path, e))
}

/// Reads a PEM bundle of CA certificates into a root store.
pub fn roots_from_pem(path: impl AsRef<Path>) -> Result<RootCertStore> {
    let path = path.as_ref();
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(path)
        .map_err(|_| config_err("CA bundle", path, "no readable certificate"))?
    {
        roots
            .add(cert)
            .map_err(|e| config_err("CA bundle", path, e))?;
    }
    Ok(roots)
}

/// A private key, and the file it came from (for error messages).
struct Key {
    der: PrivateKeyDer<'static>,
    path: Option<std::path::PathBuf>,
}

impl Clone for Key {
    fn clone(&self) -> Key {
        Key {
            der: self.der.clone_key(),
            path: self.path.clone(),
        }
    }
}

/// Builds a [`TlsConfig`].
#[derive(Clone, Default)]
pub struct TlsConfigBuilder {
    server: Option<(Vec<CertificateDer<'static>>, Key)>,
    trust: Option<Arc<RootCertStore>>,
    client: Option<(Vec<CertificateDer<'static>>, Key)>,
    client_ca: Option<Arc<RootCertStore>>,
    server_name: Option<ServerName<'static>>,
    identity_from_cert: bool,
}

impl std::fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfigBuilder")
            .field("server_cert", &self.server.is_some())
            .field("trust", &self.trust.as_ref().map(|r| r.len()))
            .field("client_cert", &self.client.is_some())
            .field("require_client_cert", &self.client_ca.is_some())
            .finish()
    }
}

impl TlsConfigBuilder {
    /// The server's certificate chain and key, from PEM files.
    pub fn server_cert_pem(
        mut self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self> {
        let key_path = key.as_ref().to_owned();
        self.server = Some((
            certs_from_pem(chain)?,
            Key {
                der: key_from_pem(&key_path)?,
                path: Some(key_path),
            },
        ));
        Ok(self)
    }

    /// The server's certificate chain and key.
    pub fn server_cert(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.server = Some((
            chain,
            Key {
                der: key,
                path: None,
            },
        ));
        self
    }

    /// Trust the CA certificates in a PEM bundle to verify servers.
    pub fn trust_pem(mut self, bundle: impl AsRef<Path>) -> Result<Self> {
        self.trust = Some(Arc::new(roots_from_pem(bundle)?));
        Ok(self)
    }

    /// Trust these roots to verify servers.
    pub fn trust(mut self, roots: RootCertStore) -> Self {
        self.trust = Some(Arc::new(roots));
        self
    }

    /// Trust the platform's certificate store to verify servers.
    pub fn trust_platform(mut self) -> Result<Self> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(Error::InvalidConfig {
                reason: "no usable certificate in the platform store".into(),
            });
        }
        self.trust = Some(Arc::new(roots));
        Ok(self)
    }

    /// The client's own certificate and key (mutual TLS), from PEM files.
    pub fn client_cert_pem(
        mut self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self> {
        let key_path = key.as_ref().to_owned();
        self.client = Some((
            certs_from_pem(chain)?,
            Key {
                der: key_from_pem(&key_path)?,
                path: Some(key_path),
            },
        ));
        Ok(self)
    }

    /// The client's own certificate and key (mutual TLS).
    pub fn client_cert(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.client = Some((
            chain,
            Key {
                der: key,
                path: None,
            },
        ));
        self
    }

    /// Servers require clients to present a certificate signed by a CA in this bundle.
    pub fn require_client_cert_pem(mut self, bundle: impl AsRef<Path>) -> Result<Self> {
        self.client_ca = Some(Arc::new(roots_from_pem(bundle)?));
        Ok(self)
    }

    /// Servers require clients to present a certificate signed by one of these roots.
    pub fn require_client_cert(mut self, roots: RootCertStore) -> Self {
        self.client_ca = Some(Arc::new(roots));
        self
    }

    /// The name to verify the server's certificate against (and send as SNI), instead of
    /// the endpoint's host.
    pub fn server_name(mut self, name: &str) -> Result<Self> {
        let n = ServerName::try_from(name.to_owned()).map_err(|_| Error::InvalidConfig {
            reason: format!("`{name}` is not a valid server name"),
        })?;
        self.server_name = Some(n);
        Ok(self)
    }

    /// Name peers by their verified certificate (first DNS name, else the subject's
    /// common name): a ROUTER then addresses them by it, instead of the identity they
    /// announce. A server configuration must then also
    /// [require client certificates](TlsConfigBuilder::require_client_cert): a client
    /// without one could otherwise name itself ([`TlsConfigBuilder::build`] refuses it).
    pub fn identity_from_cert(mut self, on: bool) -> Self {
        self.identity_from_cert = on;
        self
    }

    /// Builds the rustls configurations, checking keys against their certificates, and
    /// refuses combinations that would let a peer claim what it has not proved.
    pub fn build(self) -> Result<TlsConfig> {
        if self.identity_from_cert && self.server.is_some() && self.client_ca.is_none() {
            // Without a verified certificate a client would fall back to the identity it
            // announces, and could take a ROUTER identity meant for a certificate.
            return Err(Error::InvalidConfig {
                reason: "TLS: identity_from_cert on a server needs require_client_cert: \
                         without verified client certificates, clients could claim any \
                         identity"
                    .into(),
            });
        }
        let provider = provider();
        let tls13 = &[&rustls::version::TLS13];
        let rustls_err = |e: rustls::Error| Error::InvalidConfig {
            reason: format!("TLS: {e}"),
        };
        let key_err = |key: &Key, e: rustls::Error| match &key.path {
            Some(path) => config_err(
                "private key file",
                path,
                format!("{e} (does it match the certificate?)"),
            ),
            None => rustls_err(e),
        };
        let server = match &self.server {
            Some((chain, key)) => {
                let b = ServerConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(tls13)
                    .map_err(rustls_err)?;
                let b = match &self.client_ca {
                    Some(roots) => {
                        let v = WebPkiClientVerifier::builder_with_provider(
                            roots.clone(),
                            provider.clone(),
                        )
                        .build()
                        .map_err(|e| Error::InvalidConfig {
                            reason: format!("client verifier: {e}"),
                        })?;
                        b.with_client_cert_verifier(v)
                    }
                    None => b.with_no_client_auth(),
                };
                let mut c = b
                    .with_single_cert(chain.clone(), key.der.clone_key())
                    .map_err(|e| key_err(key, e))?;
                c.ignore_client_order = true;
                Some(Arc::new(c))
            }
            None => None,
        };
        let client = match &self.trust {
            Some(roots) => {
                let b = ClientConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(tls13)
                    .map_err(rustls_err)?
                    .with_root_certificates(roots.clone());
                let c = match &self.client {
                    Some((chain, key)) => b
                        .with_client_auth_cert(chain.clone(), key.der.clone_key())
                        .map_err(|e| key_err(key, e))?,
                    None => b.with_no_client_auth(),
                };
                Some(Arc::new(c))
            }
            None => None,
        };
        Ok(TlsConfig {
            server,
            client,
            server_name: self.server_name,
            identity_from_cert: self.identity_from_cert,
        })
    }
}

/// TLS settings of a driver (given at `register`) or of one socket
/// (`VtxSocket::set_transport_config`), which then overrides the driver's.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) server: Option<Arc<ServerConfig>>,
    pub(crate) client: Option<Arc<ClientConfig>>,
    pub(crate) server_name: Option<ServerName<'static>>,
    pub(crate) identity_from_cert: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .field("server_name", &self.server_name)
            .field("identity_from_cert", &self.identity_from_cert)
            .finish()
    }
}

impl TlsConfig {
    /// Starts a configuration.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// A configuration from prebuilt rustls configurations (for settings the builder does
    /// not cover). Use TLS 1.3 only: vtx never negotiates anything older.
    pub fn from_rustls(
        server: Option<Arc<ServerConfig>>,
        client: Option<Arc<ClientConfig>>,
    ) -> TlsConfig {
        TlsConfig {
            server,
            client,
            server_name: None,
            identity_from_cert: false,
        }
    }
}
