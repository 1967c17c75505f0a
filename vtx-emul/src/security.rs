//! ZMTP security mechanisms (RFC 23 §2.4) as a socket configures them, and the
//! authenticator a server asks about every peer.
//!
//! One mechanism per socket, fixed by configuration: a peer greeting with another one
//! is refused, never met halfway, so there is no negotiation to downgrade. NULL is the
//! default. PLAIN (RFC 24) carries a user name and password in clear: it
//! authenticates, it does not protect, so use it inside `tls://`. CURVE (RFC 25/26)
//! encrypts everything and authenticates both ends by their Curve25519 keys, written
//! in Z85 as libzmq writes them ([`curve_keypair`]).
//!
//! A server's [`Authenticator`] decides for each peer. It runs on the driver thread, so
//! it must answer quickly (a lookup, not a network round trip). What it calls the peer
//! (`User-Id`) becomes a property of every message from that peer; a peer cannot
//! announce a `User-Id` of its own (the session drops one it sends).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use crate::sasl::{SaslClient, SaslMechanism, SaslServer};

/// Longest PLAIN user name or password (RFC 24: one octet of length).
pub const PLAIN_MAX: usize = 255;

/// A socket's security mechanism.
#[derive(Clone, Default)]
pub enum Security {
    /// No security (RFC 23 NULL): the default.
    #[default]
    Null,
    /// PLAIN client: sends these credentials (RFC 24).
    PlainClient {
        /// User name, at most [`PLAIN_MAX`] octets.
        username: Bytes,
        /// Password, at most [`PLAIN_MAX`] octets; wiped from memory when dropped.
        password: Arc<Zeroizing<Vec<u8>>>,
    },
    /// PLAIN server: every client's credentials go to the authenticator.
    PlainServer {
        /// Decides for each client.
        authenticator: Arc<dyn Authenticator>,
    },
    /// CURVE client: knows the server's public key, proves its own.
    CurveClient {
        /// The server's long-term public key.
        server_key: [u8; 32],
        /// Our long-term secret key (the public key follows from it); wiped when
        /// dropped.
        secret_key: Arc<Zeroizing<[u8; 32]>>,
    },
    /// CURVE server: its long-term keys, and who may connect.
    CurveServer {
        /// Our long-term secret keys: the first is the current one; a HELLO made for
        /// any of them opens, so clients move to a new key without downtime.
        secret_keys: Arc<Vec<Zeroizing<[u8; 32]>>>,
        /// Decides for each client, by its public key.
        authenticator: Arc<dyn Authenticator>,
    },
    /// ZMTP-SASL client (docs/zmtp-sasl.md).
    SaslClient(Arc<SaslClient>),
    /// ZMTP-SASL server: its mechanism, credential store and authoriser.
    SaslServer(Arc<SaslServer>),
}

/// A new key pair for CURVE, as libzmq's `zmq_curve_keypair` gives it: the public key
/// and the secret key in Z85 (40 characters each), from the operating system's
/// randomness (hence the runtime feature).
#[cfg(feature = "runtime")]
pub fn curve_keypair() -> (String, Zeroizing<String>) {
    let (public, secret) = crate::zmtp::curve::keypair_from(rand::random());
    (z85_encode(&public), Zeroizing::new(z85_encode(&secret)))
}

/// A 32-byte key in Z85.
pub fn z85_encode(key: &[u8; 32]) -> String {
    z85::encode(key)
}

/// A 32-byte key from its Z85 text (40 characters); `None` for anything else.
pub fn z85_decode(text: &str) -> Option<[u8; 32]> {
    let bytes = Zeroizing::new(z85::decode(text.trim()).ok()?);
    bytes.as_slice().try_into().ok()
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Null => f.write_str("Null"),
            Security::PlainClient { username, .. } => f
                .debug_struct("PlainClient")
                .field("username", username)
                .finish_non_exhaustive(),
            Security::PlainServer { .. } => f.write_str("PlainServer"),
            Security::CurveClient { server_key, .. } => f
                .debug_struct("CurveClient")
                .field("server_key", &z85_encode(server_key))
                .finish_non_exhaustive(),
            Security::CurveServer { secret_keys, .. } => f
                .debug_struct("CurveServer")
                .field("keys", &secret_keys.len())
                .finish_non_exhaustive(),
            Security::SaslClient(c) => c.fmt(f),
            Security::SaslServer(s) => s.fmt(f),
        }
    }
}

/// Equal when configured alike: the same credentials, or the same authenticator
/// (the same `Arc`, not one that happens to decide alike).
impl PartialEq for Security {
    fn eq(&self, other: &Security) -> bool {
        match (self, other) {
            (Security::Null, Security::Null) => true,
            (
                Security::PlainClient { username, password },
                Security::PlainClient {
                    username: u,
                    password: p,
                },
            ) => username == u && password.as_slice() == p.as_slice(),
            (
                Security::PlainServer { authenticator },
                Security::PlainServer { authenticator: a },
            ) => Arc::ptr_eq(authenticator, a),
            (
                Security::CurveClient {
                    server_key,
                    secret_key,
                },
                Security::CurveClient {
                    server_key: k,
                    secret_key: s,
                },
            ) => server_key == k && **secret_key == **s,
            (
                Security::CurveServer {
                    secret_keys,
                    authenticator,
                },
                Security::CurveServer {
                    secret_keys: k,
                    authenticator: a,
                },
            ) => Arc::ptr_eq(secret_keys, k) && Arc::ptr_eq(authenticator, a),
            (Security::SaslClient(a), Security::SaslClient(b)) => a == b,
            (Security::SaslServer(a), Security::SaslServer(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Security {}

impl Security {
    /// A PLAIN client with these credentials; `None` if either is longer than
    /// [`PLAIN_MAX`] octets.
    pub fn plain_client(username: &[u8], password: &[u8]) -> Option<Security> {
        (username.len() <= PLAIN_MAX && password.len() <= PLAIN_MAX).then(|| {
            Security::PlainClient {
                username: Bytes::copy_from_slice(username),
                password: Arc::new(Zeroizing::new(password.to_vec())),
            }
        })
    }

    /// A CURVE client of the server whose public key is `server_key`, holding the
    /// key pair whose secret is `secret_key` (both Z85); `None` if either is not a
    /// Z85 key.
    pub fn curve_client(server_key: &str, secret_key: &str) -> Option<Security> {
        Some(Security::CurveClient {
            server_key: z85_decode(server_key)?,
            secret_key: Arc::new(Zeroizing::new(z85_decode(secret_key)?)),
        })
    }

    /// A CURVE server holding these secret keys (Z85; the first is the current one)
    /// and asking `authenticator` about each client; `None` if there is no key or one
    /// is not a Z85 key.
    pub fn curve_server(
        secret_keys: &[&str],
        authenticator: Arc<dyn Authenticator>,
    ) -> Option<Security> {
        let keys = secret_keys
            .iter()
            .map(|k| z85_decode(k).map(Zeroizing::new))
            .collect::<Option<Vec<_>>>()?;
        (!keys.is_empty()).then(|| Security::CurveServer {
            secret_keys: Arc::new(keys),
            authenticator,
        })
    }

    /// The mechanism's name in the greeting.
    pub fn name(&self) -> &'static [u8] {
        match self {
            Security::Null => b"NULL",
            Security::PlainClient { .. } | Security::PlainServer { .. } => b"PLAIN",
            Security::CurveClient { .. } | Security::CurveServer { .. } => b"CURVE",
            Security::SaslClient(_) | Security::SaslServer(_) => b"SASL",
        }
    }

    /// Whether we are the mechanism's server (the greeting's as-server bit).
    pub fn is_server(&self) -> bool {
        matches!(
            self,
            Security::PlainServer { .. } | Security::CurveServer { .. } | Security::SaslServer(_)
        )
    }

    /// The authenticator of a server mechanism.
    pub fn authenticator(&self) -> Option<&Arc<dyn Authenticator>> {
        match self {
            Security::PlainServer { authenticator }
            | Security::CurveServer { authenticator, .. } => Some(authenticator),
            Security::SaslServer(s) => Some(&s.authenticator),
            _ => None,
        }
    }

    /// The SASL mechanism, if the mechanism is ZMTP-SASL.
    pub fn sasl_mechanism(&self) -> Option<SaslMechanism> {
        match self {
            Security::SaslClient(c) => Some(c.mechanism),
            Security::SaslServer(s) => Some(s.mechanism),
            _ => None,
        }
    }
}

/// What a client proved, for an [`Authenticator`].
#[derive(Clone, Copy, Debug)]
pub enum Credentials<'a> {
    /// PLAIN's user name and password.
    Plain {
        /// As the client sent it.
        username: &'a [u8],
        /// As the client sent it.
        password: &'a [u8],
    },
    /// CURVE's long-term public key, which the client proved it holds.
    Curve {
        /// The key (`z85_encode` writes it as libzmq's tools do).
        public_key: &'a [u8; 32],
    },
    /// What a SASL exchange authenticated (ZAP frames: the SASL mechanism, the authcid,
    /// the authzid or an empty frame).
    Sasl {
        /// The SASL mechanism (`SCRAM-SHA-256`).
        mechanism: SaslMechanism,
        /// The authentication identity: the SCRAM or PLAIN user, the certificate name
        /// for EXTERNAL.
        authcid: &'a str,
        /// The authorisation identity the client asked for, if any.
        authzid: Option<&'a str>,
    },
}

impl Credentials<'_> {
    /// The `User-Id` an authenticator that lets anyone in gives: CURVE's key in Z85,
    /// PLAIN's user name, SASL's authzid if the client asked for one, else its authcid.
    pub fn default_user_id(&self) -> Bytes {
        match *self {
            Credentials::Curve { public_key } => Bytes::from(z85_encode(public_key)),
            Credentials::Plain { username, .. } => Bytes::copy_from_slice(username),
            Credentials::Sasl {
                authcid, authzid, ..
            } => Bytes::copy_from_slice(authzid.unwrap_or(authcid).as_bytes()),
        }
    }
}

/// One client asking to be let in.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest<'a> {
    /// The mechanism (`"PLAIN"`).
    pub mechanism: &'a str,
    /// The identity (routing id) the client announced, empty if none.
    pub identity: &'a [u8],
    /// The client's socket type name (`"DEALER"`).
    pub socket_type: &'a str,
    /// Where it connects from (`tcp6://[::1]:40123`), as ZAP's address frame carries it.
    pub address: &'a str,
    /// What it proved.
    pub credentials: Credentials<'a>,
}

/// An authenticator's answer, with ZAP's status codes (RFC 27).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// 200: let it in as `user_id` (the `User-Id` of its messages).
    Allow {
        /// Who the client is, as the application names it.
        user_id: Bytes,
    },
    /// 300 (try again later), 400 (denied) or 500 (the authenticator failed): the
    /// client hears ERROR with the status code, and the link closes.
    Deny {
        /// 300, 400 or 500.
        status: u16,
        /// Why, for the log (not sent to the client).
        text: String,
    },
}

impl AuthOutcome {
    /// 400 with a reason for the log.
    pub fn denied(text: impl Into<String>) -> AuthOutcome {
        AuthOutcome::Deny {
            status: 400,
            text: text.into(),
        }
    }
}

/// Decides whether a client may connect: called once per handshake, on the driver
/// thread.
pub trait Authenticator: Send + Sync + 'static {
    /// The answer for this client.
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome;
}

impl<F> Authenticator for F
where
    F: Fn(&AuthRequest<'_>) -> AuthOutcome + Send + Sync + 'static,
{
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        self(request)
    }
}

/// A PLAIN authenticator over a fixed table of users and passwords. Passwords are
/// compared in constant time and wiped from memory when the table is dropped (user
/// names are not secrets); the `User-Id` is the user name.
#[derive(Default)]
pub struct PlainPasswords {
    users: Vec<(Bytes, Zeroizing<Vec<u8>>)>,
}

impl fmt::Debug for PlainPasswords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainPasswords")
            .field("users", &self.users.len())
            .finish()
    }
}

impl PlainPasswords {
    /// An empty table (it denies everyone).
    pub fn new() -> PlainPasswords {
        PlainPasswords::default()
    }

    /// The table with `username` allowed in with `password` (replacing an earlier
    /// entry for that user).
    #[must_use]
    pub fn with_user(mut self, username: &[u8], password: &[u8]) -> PlainPasswords {
        self.users.retain(|(u, _)| u != username);
        self.users.push((
            Bytes::copy_from_slice(username),
            Zeroizing::new(password.to_vec()),
        ));
        self
    }
}

impl Authenticator for PlainPasswords {
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        let Credentials::Plain { username, password } = request.credentials else {
            return AuthOutcome::denied("a PLAIN password table asked about another mechanism");
        };
        let found = self.users.iter().find(|(u, _)| u == username);
        // The password in constant time (the user name is not a secret).
        let ok = found.is_some_and(|(_, p)| p.as_slice().ct_eq(password).into());
        if ok {
            AuthOutcome::Allow {
                user_id: Bytes::copy_from_slice(username),
            }
        } else {
            AuthOutcome::denied(format!(
                "PLAIN: bad user name or password for {:?}",
                String::from_utf8_lossy(username)
            ))
        }
    }
}

/// A CURVE authenticator letting in the clients whose public keys it lists (libzmq's
/// `zauth` allow list); the `User-Id` is the key in Z85.
#[derive(Clone, Debug, Default)]
pub struct AllowedKeys {
    keys: Vec<[u8; 32]>,
}

impl AllowedKeys {
    /// An empty list (it denies everyone).
    pub fn new() -> AllowedKeys {
        AllowedKeys::default()
    }

    /// The list with `key` (Z85) added; `None` if it is not a Z85 key.
    pub fn with_key(mut self, key: &str) -> Option<AllowedKeys> {
        self.keys.push(z85_decode(key)?);
        Some(self)
    }
}

impl Authenticator for AllowedKeys {
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        match request.credentials {
            Credentials::Curve { public_key } if self.keys.contains(public_key) => {
                AuthOutcome::Allow {
                    user_id: Bytes::from(z85_encode(public_key)),
                }
            }
            Credentials::Curve { public_key } => {
                AuthOutcome::denied(format!("CURVE key {} not allowed", z85_encode(public_key)))
            }
            _ => AuthOutcome::denied("a CURVE key list asked about another mechanism"),
        }
    }
}

/// Lets every client in: for CURVE, encryption and the server's authentication
/// without checking who the client is (libzmq's behaviour without a ZAP handler). The
/// `User-Id` is [`Credentials::default_user_id`]: for SASL, who the exchange
/// authenticated (SASL is the authentication; this authorises every such user).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAny;

impl Authenticator for AllowAny {
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        AuthOutcome::Allow {
            user_id: request.credentials.default_user_id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain<'a>(username: &'a [u8], password: &'a [u8]) -> AuthRequest<'a> {
        AuthRequest {
            mechanism: "PLAIN",
            identity: b"",
            socket_type: "DEALER",
            address: "tcp6://[::1]:1",
            credentials: Credentials::Plain { username, password },
        }
    }

    #[test]
    fn a_password_table_allows_its_users_only() {
        let table = PlainPasswords::new()
            .with_user(b"alice", b"old")
            .with_user(b"bob", b"builder")
            .with_user(b"alice", b"wonderland");
        assert_eq!(
            table.authenticate(&plain(b"alice", b"wonderland")),
            AuthOutcome::Allow {
                user_id: Bytes::from_static(b"alice")
            }
        );
        for (u, p) in [
            (&b"alice"[..], &b"old"[..]),
            (b"alice", b"wonderlan"),
            (b"bob", b""),
            (b"eve", b"builder"),
        ] {
            assert!(
                matches!(
                    table.authenticate(&plain(u, p)),
                    AuthOutcome::Deny { status: 400, .. }
                ),
                "{u:?} {p:?}"
            );
        }
    }

    #[test]
    fn curve_keys_are_z85_as_libzmq_writes_them() {
        // RFC 32's test vector: these 8 bytes are "HelloWorld".
        assert_eq!(
            z85::encode([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]),
            "HelloWorld"
        );
        let (public, secret) = curve_keypair();
        assert_eq!((public.len(), secret.len()), (40, 40));
        let p = z85_decode(&public).unwrap();
        let s = z85_decode(&secret).unwrap();
        assert_eq!(crate::zmtp::curve::public_of(&s), p);
        assert!(z85_decode("short").is_none() && z85_decode(&secret[..35]).is_none());
        let allowed = AllowedKeys::new().with_key(&public).unwrap();
        let ask = |k: &[u8; 32]| {
            allowed.authenticate(&AuthRequest {
                mechanism: "CURVE",
                identity: b"",
                socket_type: "REQ",
                address: "",
                credentials: Credentials::Curve { public_key: k },
            })
        };
        assert_eq!(
            ask(&p),
            AuthOutcome::Allow {
                user_id: Bytes::from(public.clone())
            }
        );
        assert!(matches!(
            ask(&[7; 32]),
            AuthOutcome::Deny { status: 400, .. }
        ));
        let shown = format!("{:?}", Security::curve_client(&public, &secret).unwrap());
        assert!(
            shown.contains(&public) && !shown.contains(secret.as_str()),
            "{shown}"
        );
    }

    #[test]
    fn plain_credentials_are_bounded_and_never_printed() {
        assert!(Security::plain_client(&[b'u'; 256], b"p").is_none());
        assert!(Security::plain_client(b"u", &[b'p'; 256]).is_none());
        let s = Security::plain_client(b"admin", b"secret").unwrap();
        assert_eq!(s.name(), b"PLAIN");
        assert!(!s.is_server());
        let shown = format!("{s:?}");
        assert!(
            shown.contains("admin") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
