//! ZMTP-SASL's configuration (docs/zmtp-sasl.md): the mechanisms, what a client
//! proves itself with, and a server's SCRAM credential store.
//!
//! The exchange itself runs in the ZMTP session (`zmtp::sasl`), through `rsasl`. A
//! server keeps no passwords: per user, the salt, the iteration count, StoredKey and
//! ServerKey of RFC 5802, in GNU gsasl's `--mkpasswd` notation. The same keys verify a
//! PLAIN password (under TLS), at the cost of the iterations.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::KeyInit;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::security::Authenticator;

/// The iteration count new SCRAM credentials get unless told otherwise (RFC 7677's
/// minimum, gsasl's and Cyrus's default).
pub const SCRAM_ITERATIONS: u32 = 4096;
/// The most iterations a client runs for a server: more is refused, so a hostile
/// server cannot keep a client's driver busy for minutes (10^6 iterations of
/// HMAC-SHA-256 take about half a second here).
pub const SCRAM_ITERATIONS_MAX: u32 = 1_000_000;
/// Longest user name, authorisation identity or password accepted in configuration.
pub const SASL_NAME_MAX: usize = 255;
/// Lines in a credential file.
pub const CREDENTIAL_FILE_MAX_USERS: usize = 100_000;

/// The SASL mechanisms ZMTP-SASL runs (one per socket, fixed by configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// SCRAM-SHA-256 (RFC 7677), on any transport.
    ScramSha256,
    /// SCRAM-SHA-256-PLUS, bound to the TLS session (RFC 9266 `tls-exporter`).
    ScramSha256Plus,
    /// EXTERNAL (RFC 4422 appendix A): the verified TLS client certificate.
    External,
    /// PLAIN (RFC 4616): the password itself, so only inside TLS.
    Plain,
}

impl SaslMechanism {
    /// Every mechanism, for listings.
    pub const ALL: [SaslMechanism; 4] = [
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha256Plus,
        SaslMechanism::External,
        SaslMechanism::Plain,
    ];

    /// The SASL name (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            SaslMechanism::External => "EXTERNAL",
            SaslMechanism::Plain => "PLAIN",
        }
    }

    /// The mechanism of a SASL name (as written, upper case).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        SaslMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the mechanism needs a TLS link (`tls://`): it binds to the TLS session,
    /// uses its client certificate or sends a password.
    pub fn needs_tls(self) -> bool {
        !matches!(self, SaslMechanism::ScramSha256)
    }

    /// Whether a client proves itself with a password.
    pub fn uses_password(self) -> bool {
        !matches!(self, SaslMechanism::External)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A ZMTP-SASL client's configuration.
#[derive(Clone)]
pub struct SaslClient {
    /// The one mechanism it runs.
    pub mechanism: SaslMechanism,
    /// The authentication identity (the SCRAM or PLAIN user); unused by EXTERNAL.
    pub authcid: String,
    /// The password; wiped when dropped. Unused by EXTERNAL.
    pub password: Zeroizing<String>,
    /// The authorisation identity asked for, if it differs from the authcid (EXTERNAL:
    /// another name than the certificate's).
    pub authzid: Option<String>,
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism)
            .field("authcid", &self.authcid)
            .field("authzid", &self.authzid)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SaslClient {
    fn eq(&self, o: &SaslClient) -> bool {
        self.mechanism == o.mechanism
            && self.authcid == o.authcid
            && bool::from(self.password.as_bytes().ct_eq(o.password.as_bytes()))
            && self.authzid == o.authzid
    }
}

impl SaslClient {
    /// A client of `mechanism` proving `authcid` with `password`; `None` if a name or
    /// the password is longer than [`SASL_NAME_MAX`] octets or contains NUL.
    pub fn new(mechanism: SaslMechanism, authcid: &str, password: &str) -> Option<SaslClient> {
        let ok = |s: &str| s.len() <= SASL_NAME_MAX && !s.contains('\0');
        (ok(authcid) && ok(password)).then(|| SaslClient {
            mechanism,
            authcid: authcid.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            authzid: None,
        })
    }

    /// An EXTERNAL client: the TLS client certificate is the credential.
    pub fn external() -> SaslClient {
        SaslClient {
            mechanism: SaslMechanism::External,
            authcid: String::new(),
            password: Zeroizing::new(String::new()),
            authzid: None,
        }
    }

    /// Asks for `authzid` as the authorisation identity; `None` if it is too long or
    /// contains NUL.
    pub fn with_authzid(mut self, authzid: &str) -> Option<SaslClient> {
        (authzid.len() <= SASL_NAME_MAX && !authzid.contains('\0')).then(|| {
            self.authzid = Some(authzid.to_owned());
            self
        })
    }
}

/// A ZMTP-SASL server's configuration.
#[derive(Clone)]
pub struct SaslServer {
    /// The one mechanism it accepts.
    pub mechanism: SaslMechanism,
    /// Where SCRAM and PLAIN look users up (EXTERNAL needs none).
    pub credentials: Arc<dyn ScramCredentials>,
    /// Decides on each authenticated client (its authcid and authzid), as for PLAIN
    /// and CURVE: ZAP, an allow list, or [`AllowAny`](crate::security::AllowAny).
    pub authenticator: Arc<dyn Authenticator>,
    /// Keys the made-up salt of a user who does not exist (so that it is the same on
    /// every attempt, like a real one's); random, and nobody else's.
    pub secret: Arc<Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslServer")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SaslServer {
    fn eq(&self, o: &SaslServer) -> bool {
        self.mechanism == o.mechanism
            && Arc::ptr_eq(&self.credentials, &o.credentials)
            && Arc::ptr_eq(&self.authenticator, &o.authenticator)
            && Arc::ptr_eq(&self.secret, &o.secret)
    }
}

impl SaslServer {
    /// A server of `mechanism` with these credentials and authoriser; `secret` keys
    /// the salts made up for unknown users (draw it from the operating system).
    pub fn new(
        mechanism: SaslMechanism,
        credentials: Arc<dyn ScramCredentials>,
        authenticator: Arc<dyn Authenticator>,
        secret: [u8; 32],
    ) -> SaslServer {
        SaslServer {
            mechanism,
            credentials,
            authenticator,
            secret: Arc::new(Zeroizing::new(secret)),
        }
    }

    /// [`SaslServer::new`] with a secret from the operating system's randomness.
    #[cfg(feature = "runtime")]
    pub fn random(
        mechanism: SaslMechanism,
        credentials: Arc<dyn ScramCredentials>,
        authenticator: Arc<dyn Authenticator>,
    ) -> SaslServer {
        SaslServer::new(mechanism, credentials, authenticator, rand::random())
    }

    /// What SCRAM tells a client about a user the store does not know: a salt and keys
    /// derived from the server's secret and the name (the same on every attempt, so
    /// that the answer does not tell who exists), the default iteration count. No
    /// proof opens them: nobody knows a ClientKey whose hash is that StoredKey.
    #[cfg_attr(not(feature = "sasl"), allow(dead_code))]
    pub(crate) fn decoy(&self, authcid: &str) -> ScramKeys {
        let mac = |label: &[u8]| hmac(&self.secret, &[label, authcid.as_bytes()]);
        ScramKeys {
            iterations: SCRAM_ITERATIONS,
            salt: mac(b"salt")[..16].to_vec(),
            stored_key: mac(b"stored"),
            server_key: mac(b"server"),
        }
    }
}

/// One user's SCRAM-SHA-256 keys (RFC 5802 §3): what a server stores instead of the
/// password. Wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// PBKDF2's iteration count.
    pub iterations: u32,
    /// The salt.
    pub salt: Vec<u8>,
    /// H(ClientKey).
    pub stored_key: [u8; 32],
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: [u8; 32],
}

impl Drop for ScramKeys {
    fn drop(&mut self) {
        self.salt.zeroize();
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a SCRAM credential line or file was not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A line that is not `user:{SCRAM-SHA-256}iterations,salt,stored-key,server-key`.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// More users than [`CREDENTIAL_FILE_MAX_USERS`].
    #[error("more than {CREDENTIAL_FILE_MAX_USERS} users")]
    TooMany,
}

const SCHEME: &str = "{SCRAM-SHA-256}";

impl ScramKeys {
    /// The keys of `password` with `salt` and `iterations` (RFC 5802 §3: PBKDF2 with
    /// HMAC-SHA-256, rsasl's own functions).
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
        let (client_key, server_key) = client_and_server_key(password, salt, iterations);
        ScramKeys {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(&client_key[..]).into(),
            server_key,
        }
    }

    /// Whether `password` is the one these keys were made from (PLAIN), in constant
    /// time; costs the iteration count.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let (client_key, _) = client_and_server_key(password, &self.salt, self.iterations);
        let stored: [u8; 32] = Sha256::digest(&client_key[..]).into();
        stored.ct_eq(&self.stored_key).into()
    }

    /// The keys of a gsasl `--mkpasswd` value, `{SCRAM-SHA-256}4096,salt,stored,server`
    /// (salt and keys in base64).
    pub fn parse(value: &str) -> Result<ScramKeys, String> {
        let rest = value
            .trim()
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("not a {SCHEME} value"))?;
        let mut parts = rest.split(',');
        let mut next = |what: &str| parts.next().ok_or_else(|| format!("no {what}"));
        let iterations: u32 = next("iteration count")?
            .parse()
            .map_err(|_| "a bad iteration count".to_string())?;
        if iterations == 0 {
            return Err("an iteration count of 0".into());
        }
        let salt = BASE64
            .decode(next("salt")?)
            .map_err(|e| format!("salt: {e}"))?;
        let key = |b64: &str, what: &str| -> Result<[u8; 32], String> {
            let v = Zeroizing::new(BASE64.decode(b64).map_err(|e| format!("{what}: {e}"))?);
            v.as_slice()
                .try_into()
                .map_err(|_| format!("{what} is not 32 bytes"))
        };
        let stored_key = key(next("stored key")?, "stored key")?;
        let server_key = key(next("server key")?, "server key")?;
        if parts.next().is_some() {
            return Err("more than four fields".into());
        }
        if salt.is_empty() || salt.len() > 1024 {
            return Err("a salt of 0 or more than 1024 bytes".into());
        }
        Ok(ScramKeys {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// The keys as gsasl `--mkpasswd` writes them.
    pub fn to_mkpasswd(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SCHEME}{},{},{},{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        ))
    }
}

/// 16 bytes from the operating system's randomness, for a new user's salt.
#[cfg(feature = "runtime")]
pub fn random_salt() -> [u8; 16] {
    rand::random()
}

/// ClientKey and ServerKey of a password (RFC 5802 §3): SaltedPassword by PBKDF2 with
/// HMAC-SHA-256, then an HMAC of it for each key.
fn client_and_server_key(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted[..]);
    (
        Zeroizing::new(hmac(&salted, &[b"Client Key"])),
        hmac(&salted, &[b"Server Key"]),
    )
}

/// HMAC-SHA-256 of `parts` under a 32-byte key. HMAC pads a short key with zeros to
/// its block, so keying with the padded 64 bytes is the same MAC (and infallible).
fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut padded = Zeroizing::new([0u8; 64]);
    padded[..32].copy_from_slice(key);
    let mut m = <Hmac<Sha256> as KeyInit>::new(GenericArray::from_slice(&padded[..]));
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Where a SASL server finds a user's SCRAM keys (a file, a database, a callback).
/// Called on the driver thread during the handshake: it must answer quickly.
pub trait ScramCredentials: Send + Sync + 'static {
    /// The keys of `authcid`, `None` if there is no such user.
    fn lookup(&self, authcid: &str) -> Option<ScramKeys>;
}

impl<F> ScramCredentials for F
where
    F: Fn(&str) -> Option<ScramKeys> + Send + Sync + 'static,
{
    fn lookup(&self, authcid: &str) -> Option<ScramKeys> {
        self(authcid)
    }
}

/// An in-memory table of users and their SCRAM keys, from code or a credential file.
#[derive(Clone, Debug, Default)]
pub struct ScramUsers {
    users: HashMap<String, ScramKeys>,
}

impl ScramUsers {
    /// An empty table (nobody gets in).
    pub fn new() -> ScramUsers {
        ScramUsers::default()
    }

    /// The table with `user`'s keys (replacing any before).
    pub fn with_keys(mut self, user: &str, keys: ScramKeys) -> ScramUsers {
        self.users.insert(user.to_owned(), keys);
        self
    }

    /// The table with `user`'s keys derived from `password` (`salt`: at least 16 random
    /// bytes; [`SCRAM_ITERATIONS`] is the usual count).
    pub fn with_password(
        self,
        user: &str,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> ScramUsers {
        let keys = ScramKeys::derive(password.as_bytes(), salt, iterations);
        self.with_keys(user, keys)
    }

    /// Reads a credential file: one `user:{SCRAM-SHA-256}iterations,salt,stored,server`
    /// per line (the part after the colon as `gsasl --mkpasswd --mechanism
    /// SCRAM-SHA-256` prints it); blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<ScramUsers, CredentialError> {
        let mut users = ScramUsers::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason: String| CredentialError::Malformed {
                line: i + 1,
                reason,
            };
            let Some(at) = line.find(&format!(":{SCHEME}")) else {
                return Err(malformed(format!("no \":{SCHEME}\" after the user name")));
            };
            let (user, value) = (&line[..at], &line[at + 1..]);
            if user.is_empty() || user.len() > SASL_NAME_MAX {
                return Err(malformed("an empty or too long user name".into()));
            }
            let keys = ScramKeys::parse(value).map_err(malformed)?;
            if users.users.len() >= CREDENTIAL_FILE_MAX_USERS {
                return Err(CredentialError::TooMany);
            }
            users.users.insert(user.to_owned(), keys);
        }
        Ok(users)
    }

    /// How many users the table has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl ScramCredentials for ScramUsers {
    fn lookup(&self, authcid: &str) -> Option<ScramKeys> {
        self.users.get(authcid).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example: user "user", password "pencil", salt
    /// `W22ZaJ0SNY7soEsUEjb6gQ==`, 4096 iterations. Its keys are what gsasl
    /// `--mkpasswd --mechanism SCRAM-SHA-256 --password pencil --salt
    /// W22ZaJ0SNY7soEsUEjb6gQ==` prints.
    const RFC7677: &str = "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,\
        WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    #[test]
    fn keys_derive_as_rfc_7677_and_round_trip_through_mkpasswd_notation() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = ScramKeys::derive(b"pencil", &salt, 4096);
        assert_eq!(keys, ScramKeys::parse(RFC7677).unwrap());
        assert_eq!(&*keys.to_mkpasswd(), RFC7677);
        assert!(keys.verify_password(b"pencil"));
        assert!(!keys.verify_password(b"pencil "));
    }

    #[test]
    fn a_credential_file_names_users_and_rejects_bad_lines_with_their_number() {
        let text = format!("# users\n\nuser:{RFC7677}\nbob:x:{RFC7677}\n");
        let users = ScramUsers::parse(&text).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.lookup("user").is_some());
        assert!(users.lookup("bob:x").is_some(), "a colon may be in a name");
        assert!(users.lookup("eve").is_none());
        for (bad, why) in [
            ("user {SCRAM-SHA-256}4096,a,b,c", "no \":"),
            (
                "user:{SCRAM-SHA-256}0,AAAA,AAAA,AAAA",
                "iteration count of 0",
            ),
            ("user:{SCRAM-SHA-256}4096,AAAA,AAAA,AAAA", "not 32 bytes"),
            (":{SCRAM-SHA-256}4096,AAAA,AAAA,AAAA", "empty"),
            ("user:{SCRAM-SHA-256}4096,!!,AAAA,AAAA", "salt"),
        ] {
            let e = ScramUsers::parse(&format!("\n{bad}")).unwrap_err();
            let CredentialError::Malformed { line, reason } = &e else {
                panic!("{e}")
            };
            assert_eq!(*line, 2, "{bad}");
            assert!(reason.contains(why), "{bad}: {reason}");
        }
    }

    #[test]
    fn an_unknown_user_gets_the_same_decoy_every_time_and_another_user_another() {
        let s = SaslServer::new(
            SaslMechanism::ScramSha256,
            Arc::new(ScramUsers::new()),
            Arc::new(crate::security::AllowAny),
            [7; 32],
        );
        assert_eq!(s.decoy("eve"), s.decoy("eve"));
        assert_ne!(s.decoy("eve").salt, s.decoy("mallory").salt);
        assert_eq!(s.decoy("eve").iterations, SCRAM_ITERATIONS);
    }

    #[test]
    fn mechanism_names_round_trip_and_only_bare_scram_runs_without_tls() {
        for m in SaslMechanism::ALL {
            assert_eq!(SaslMechanism::from_name(m.name()), Some(m));
            assert_eq!(m.needs_tls(), m != SaslMechanism::ScramSha256);
        }
        assert_eq!(SaslMechanism::from_name("scram-sha-256"), None);
    }
}
