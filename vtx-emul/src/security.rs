//! ZMTP security mechanisms (RFC 23 §2.4) as a socket configures them, and the
//! authenticator a server asks about every peer.
//!
//! One mechanism per socket, fixed by configuration: a peer greeting with another one
//! is refused, never met halfway, so there is no negotiation to downgrade. NULL is the
//! default. PLAIN (RFC 24) carries a user name and password in clear: it
//! authenticates, it does not protect, so use it inside `tls://`.
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

    /// The mechanism's name in the greeting.
    pub fn name(&self) -> &'static [u8] {
        match self {
            Security::Null => b"NULL",
            Security::PlainClient { .. } | Security::PlainServer { .. } => b"PLAIN",
        }
    }

    /// Whether we are the mechanism's server (the greeting's as-server bit).
    pub fn is_server(&self) -> bool {
        matches!(self, Security::PlainServer { .. })
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
/// compared in constant time and wiped from memory when the table is dropped; the
/// `User-Id` is the user name.
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
        let Credentials::Plain { username, password } = request.credentials;
        let found = self.users.iter().find(|(u, _)| u == username);
        // Compared in constant time even for an unknown user (against an empty
        // password of the same length), so timing does not tell who exists.
        let ok = match found {
            Some((_, p)) => p.as_slice().ct_eq(password).into(),
            None => {
                let _ = vec![0u8; password.len()].ct_eq(password);
                false
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plain<'a>(username: &'a [u8], password: &'a [u8]) -> AuthRequest<'a> {
        AuthRequest {
            mechanism: "PLAIN",
            identity: b"",
            socket_type: "DEALER",
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
