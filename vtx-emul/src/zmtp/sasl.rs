//! ZMTP-SASL's handshake commands and exchanges (docs/zmtp-sasl.md): the client's
//! HELLO naming its mechanism with an optional initial response, CHALLENGE and
//! RESPONSE round trips, the server's WELCOME with optional additional data, then
//! INITIATE and READY with metadata as in PLAIN.
//!
//! ```text
//! hello     = %d5 "HELLO" %x01 mechanism initial
//! mechanism = OCTET 1*20mech-char
//! initial   = %x00 / %x01 sasl-data
//! challenge = %d9 "CHALLENGE" sasl-data
//! response  = %d8 "RESPONSE" sasl-data
//! welcome   = %d7 "WELCOME" (%x00 / %x01 sasl-data)
//! sasl-data = 4OCTET *OCTET            ; length (at most SASL_MESSAGE_MAX), data
//! ```
//!
//! The mechanisms are rsasl's, each side with a registry of exactly the configured
//! one. Success is what rsasl's validation says, never its state: a SCRAM server that
//! got a bad proof finishes without a validation. rsasl draws SCRAM's nonces from its
//! own `thread_rng`; everything else here is deterministic.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{
    ChannelBindingCallback, Mechanism, Registry, SASLClient, SASLConfig, SASLServer, Session,
    SessionError, State, Validation,
};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{NoValidation, Validate, ValidationError};
use zeroize::Zeroizing;

use crate::sasl::{SCRAM_ITERATIONS_MAX, SaslClient, SaslMechanism, SaslServer};
use crate::session::ChannelFacts;

/// Longest SASL message (initial response, challenge, response, additional data).
pub const SASL_MESSAGE_MAX: usize = 16 * 1024;
/// Most CHALLENGE/RESPONSE round trips in one handshake.
pub const SASL_ROUNDS_MAX: u32 = 8;
/// ZMTP-SASL's version in HELLO.
const VERSION: u8 = 1;
/// RFC 9266's channel binding type.
const TLS_EXPORTER: &str = "tls-exporter";

/// Why a SASL command was refused: what the peer hears (ERROR), and what we log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The ERROR reason (docs/zmtp-sasl.md §5).
    pub reply: &'static str,
    /// For the log.
    pub reason: String,
}

impl Refusal {
    fn new(reply: &'static str, reason: impl Into<String>) -> Refusal {
        Refusal {
            reply,
            reason: reason.into(),
        }
    }

    fn malformed(reason: impl Into<String>) -> Refusal {
        Refusal::new(MALFORMED, reason)
    }

    fn denied(reason: impl Into<String>) -> Refusal {
        Refusal::new("400", reason)
    }
}

/// The ERROR reason for a command that does not parse or comes out of turn.
pub const MALFORMED: &str = "malformed SASL command";
/// The ERROR reason for a HELLO naming another mechanism.
pub const MISMATCH: &str = "SASL mechanism mismatch";
/// The ERROR reason for a channel binding that is not this TLS session's.
pub const BINDING_MISMATCH: &str = "SASL channel binding mismatch";

fn put_name(b: &mut BytesMut, name: &[u8]) {
    b.put_u8(name.len() as u8);
    b.put_slice(name);
}

fn put_data(b: &mut BytesMut, data: &[u8]) {
    b.put_u32(data.len() as u32);
    b.put_slice(data);
}

/// A command body carrying one SASL message (CHALLENGE, RESPONSE).
pub fn data_command(name: &[u8], data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(1 + name.len() + 4 + data.len());
    put_name(&mut b, name);
    put_data(&mut b, data);
    b.freeze()
}

/// The client's HELLO command body.
pub fn hello(mechanism: SaslMechanism, initial: Option<&[u8]>) -> Bytes {
    let mut b = BytesMut::new();
    put_name(&mut b, b"HELLO");
    b.put_u8(VERSION);
    put_name(&mut b, mechanism.name().as_bytes());
    optional(&mut b, initial);
    b.freeze()
}

/// The server's WELCOME command body.
pub fn welcome(additional: Option<&[u8]>) -> Bytes {
    let mut b = BytesMut::new();
    put_name(&mut b, b"WELCOME");
    optional(&mut b, additional);
    b.freeze()
}

fn optional(b: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        None => b.put_u8(0),
        Some(d) => {
            b.put_u8(1);
            put_data(b, d);
        }
    }
}

/// `sasl-data` that must be all of `body`.
pub fn parse_data(body: &[u8]) -> Result<&[u8], Refusal> {
    let (data, rest) = take_data(body)?;
    if !rest.is_empty() {
        return Err(Refusal::malformed("bytes after the SASL message"));
    }
    Ok(data)
}

fn take_data(body: &[u8]) -> Result<(&[u8], &[u8]), Refusal> {
    let Some((len, rest)) = body.split_first_chunk::<4>() else {
        return Err(Refusal::malformed("a SASL message without its length"));
    };
    let len = u32::from_be_bytes(*len) as usize;
    if len > SASL_MESSAGE_MAX {
        return Err(Refusal::malformed(format!(
            "a SASL message of {len} bytes (at most {SASL_MESSAGE_MAX})"
        )));
    }
    if rest.len() < len {
        return Err(Refusal::malformed(
            "a SASL message past the end of its command",
        ));
    }
    Ok(rest.split_at(len))
}

/// `%x00 / %x01 sasl-data`, all of `body`.
pub fn parse_optional(body: &[u8]) -> Result<Option<&[u8]>, Refusal> {
    match body.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) => parse_data(rest).map(Some),
        _ => Err(Refusal::malformed("a bad optional SASL message")),
    }
}

/// A HELLO: the mechanism's name as sent, and the initial response.
#[derive(Debug, PartialEq, Eq)]
pub struct Hello<'a> {
    /// As sent (checked against ours by the caller).
    pub mechanism: &'a [u8],
    /// The initial response, if the client sent one.
    pub initial: Option<&'a [u8]>,
}

/// Parses a HELLO's body (after the name).
pub fn parse_hello(body: &[u8]) -> Result<Hello<'_>, Refusal> {
    let Some((&version, rest)) = body.split_first() else {
        return Err(Refusal::malformed("an empty HELLO"));
    };
    if version != VERSION {
        return Err(Refusal::malformed(format!(
            "ZMTP-SASL version {version} (we speak {VERSION})"
        )));
    }
    let Some((&n, rest)) = rest.split_first() else {
        return Err(Refusal::malformed("a HELLO without a mechanism"));
    };
    let n = n as usize;
    if n == 0 || n > 20 || rest.len() < n {
        return Err(Refusal::malformed("a HELLO with a bad mechanism name"));
    }
    let (mechanism, rest) = rest.split_at(n);
    if !mechanism
        .iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
    {
        return Err(Refusal::malformed("a HELLO with a bad mechanism name"));
    }
    Ok(Hello {
        mechanism,
        initial: parse_optional(rest)?,
    })
}

fn rsasl_mechanism(m: SaslMechanism) -> &'static Mechanism {
    use rsasl::mechanisms::{external, plain, scram};
    match m {
        SaslMechanism::ScramSha256 => &scram::SCRAM_SHA256,
        SaslMechanism::ScramSha256Plus => &scram::SCRAM_SHA256_PLUS,
        SaslMechanism::External => &external::EXTERNAL,
        SaslMechanism::Plain => &plain::PLAIN,
    }
}

/// A registry of exactly the configured mechanism: nothing to negotiate.
fn registry(m: SaslMechanism) -> Registry {
    Registry::with_mechanisms(std::slice::from_ref(rsasl_mechanism(m)))
}

/// The TLS session's `tls-exporter` value, for -PLUS.
struct Binding(Option<Zeroizing<[u8; 32]>>);

impl ChannelBindingCallback for Binding {
    fn get_cb_data(&self, cbname: &str) -> Option<&[u8]> {
        self.0
            .as_deref()
            .filter(|_| cbname == TLS_EXPORTER)
            .map(|v| &v[..])
    }
}

fn step<V: Validation>(
    session: &mut Session<V, Binding>,
    input: Option<&[u8]>,
) -> Result<(State, Vec<u8>), SessionError> {
    let mut out = Vec::new();
    let state = session.step(input, &mut out)?;
    Ok((state, out))
}

struct ClientCallback(Arc<SaslClient>);

impl SessionCallback for ClientCallback {
    fn callback(
        &self,
        _: &SessionData,
        _: &Context<'_>,
        request: &mut Request<'_>,
    ) -> Result<(), SessionError> {
        let c = &self.0;
        if let Some(z) = &c.authzid {
            request.satisfy::<AuthzId>(z)?;
        }
        if c.mechanism.uses_password() {
            request
                .satisfy::<AuthId>(&c.authcid)?
                .satisfy::<Password>(c.password.as_bytes())?;
        }
        Ok(())
    }

    fn enable_channel_binding(&self) -> bool {
        self.0.mechanism == SaslMechanism::ScramSha256Plus
    }
}

/// A client's side of one exchange.
pub struct ClientExchange {
    /// Which (HELLO names it).
    pub mechanism: SaslMechanism,
    session: Session<NoValidation, Binding>,
    /// The mechanism has reached its end on our side.
    finished: bool,
    rounds: u32,
}

impl std::fmt::Debug for ClientExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientExchange")
            .field("mechanism", &self.mechanism)
            .field("finished", &self.finished)
            .field("rounds", &self.rounds)
            .finish()
    }
}

fn client_error(e: impl std::fmt::Display) -> Refusal {
    Refusal::denied(format!("SASL client: {e}"))
}

impl ClientExchange {
    /// Starts the exchange: the initial response, if the mechanism has one (HELLO
    /// carries it).
    pub fn start(
        cfg: &Arc<SaslClient>,
        channel: &ChannelFacts,
    ) -> Result<(Self, Option<Vec<u8>>), Refusal> {
        let mechanism = cfg.mechanism;
        let binding = match mechanism {
            SaslMechanism::ScramSha256Plus => match &channel.tls_exporter {
                Some(v) => Binding(Some(v.clone())),
                None => {
                    return Err(client_error(
                        "SCRAM-SHA-256-PLUS needs a TLS 1.3 link to bind to (tls-exporter)",
                    ));
                }
            },
            _ => Binding(None),
        };
        let config = SASLConfig::builder()
            .with_registry(registry(mechanism))
            .with_callback(ClientCallback(cfg.clone()))
            .map_err(client_error)?;
        let name = rsasl_mechanism(mechanism).mechanism;
        let mut session = SASLClient::with_cb(config, binding)
            .start_suggested(&[name])
            .map_err(client_error)?;
        let (state, initial) = step(&mut session, None).map_err(client_error)?;
        Ok((
            ClientExchange {
                mechanism,
                session,
                finished: state.is_finished(),
                rounds: 0,
            },
            state.has_sent_message().then_some(initial),
        ))
    }

    /// A CHALLENGE's message: the RESPONSE's.
    pub fn on_challenge(&mut self, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        self.rounds += 1;
        if self.finished || self.rounds > SASL_ROUNDS_MAX {
            return Err(Refusal::malformed("a CHALLENGE after the exchange ended"));
        }
        self.check_iterations(data)?;
        let (state, out) = step(&mut self.session, Some(data)).map_err(client_error)?;
        self.finished = state.is_finished();
        Ok(out)
    }

    /// SCRAM's server-first message names the iteration count the client must run:
    /// more than [`SCRAM_ITERATIONS_MAX`] is refused before rsasl runs it.
    fn check_iterations(&self, data: &[u8]) -> Result<(), Refusal> {
        if !matches!(
            self.mechanism,
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha256Plus
        ) {
            return Ok(());
        }
        let count = data
            .split(|b| *b == b',')
            .find_map(|a| a.strip_prefix(b"i="))
            .and_then(|i| std::str::from_utf8(i).ok()?.parse::<u64>().ok());
        match count {
            Some(n) if n > u64::from(SCRAM_ITERATIONS_MAX) => Err(Refusal::denied(format!(
                "SCRAM: the server asks for {n} iterations (at most {SCRAM_ITERATIONS_MAX})"
            ))),
            _ => Ok(()),
        }
    }

    /// WELCOME: the server says the exchange succeeded; its additional data (SCRAM's
    /// server signature) must prove the server knew our keys.
    pub fn on_welcome(&mut self, additional: Option<&[u8]>) -> Result<(), Refusal> {
        if let Some(data) = additional {
            if self.finished {
                return Err(Refusal::malformed(
                    "additional data the mechanism has no use for",
                ));
            }
            let (state, _) = step(&mut self.session, Some(data)).map_err(client_error)?;
            self.finished = state.is_finished();
        }
        if !self.finished {
            return Err(Refusal::denied(format!(
                "{}: WELCOME before the server proved itself",
                self.mechanism
            )));
        }
        Ok(())
    }
}

/// Who a SASL exchange authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The authentication identity.
    pub authcid: String,
    /// The authorisation identity asked for, if any (and not empty).
    pub authzid: Option<String>,
}

/// rsasl's validation of a server exchange: who, or why not.
struct Outcome;

impl Validation for Outcome {
    type Value = Result<Principal, String>;
}

struct ServerCallback {
    cfg: Arc<SaslServer>,
    /// The verified client certificate's name (EXTERNAL's authcid).
    certificate_name: Option<String>,
}

impl SessionCallback for ServerCallback {
    fn callback(
        &self,
        _: &SessionData,
        context: &Context<'_>,
        request: &mut Request<'_>,
    ) -> Result<(), SessionError> {
        if request.is::<ScramStoredPassword<'_>>()
            && let Some(authcid) = context.get_ref::<AuthId>()
        {
            // An unknown user gets a decoy: the exchange runs on and fails at the
            // proof, as for a wrong password.
            let cfg = &self.cfg;
            let keys = cfg
                .credentials
                .lookup(authcid)
                .unwrap_or_else(|| cfg.decoy(authcid));
            request.satisfy::<ScramStoredPassword<'_>>(&ScramStoredPassword::new(
                keys.iterations,
                &keys.salt,
                &keys.stored_key,
                &keys.server_key,
            ))?;
        }
        Ok(())
    }

    fn validate(
        &self,
        _: &SessionData,
        context: &Context<'_>,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let authzid = context
            .get_ref::<AuthzId>()
            .filter(|z| !z.is_empty())
            .map(str::to_owned);
        let authcid = context.get_ref::<AuthId>();
        let outcome = match self.cfg.mechanism {
            // rsasl validates SCRAM only once the proof checked out.
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha256Plus => authcid
                .map(str::to_owned)
                .ok_or_else(|| "SCRAM without a user".to_string()),
            SaslMechanism::External => self
                .certificate_name
                .clone()
                .ok_or_else(|| "EXTERNAL without a verified client certificate".to_string()),
            SaslMechanism::Plain => {
                let password = context.get_ref::<Password>().unwrap_or_default();
                let authcid = authcid.unwrap_or_default();
                let keys = self.cfg.credentials.lookup(authcid);
                // An unknown user costs the same iterations as a known one.
                let ok = match &keys {
                    Some(k) => k.verify_password(password),
                    None => {
                        let _ = self.cfg.decoy(authcid).verify_password(password);
                        false
                    }
                };
                if ok {
                    Ok(authcid.to_owned())
                } else {
                    Err(format!("PLAIN: bad user name or password for {authcid:?}"))
                }
            }
        };
        validate
            .with::<Outcome, _>(|| Ok(outcome.map(|authcid| Principal { authcid, authzid })))?;
        Ok(())
    }
}

/// What the server does after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Send CHALLENGE with this message and wait for a RESPONSE.
    Challenge(Vec<u8>),
    /// The client is authenticated: send WELCOME with this additional data.
    Success {
        /// The mechanism's last message (SCRAM's server signature).
        additional: Option<Vec<u8>>,
        /// Who.
        principal: Principal,
    },
}

/// A server's side of one exchange.
pub struct ServerExchange {
    mechanism: SaslMechanism,
    session: Option<Session<Outcome, Binding>>,
    rounds: u32,
}

impl std::fmt::Debug for ServerExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerExchange")
            .field("mechanism", &self.mechanism)
            .field("rounds", &self.rounds)
            .finish()
    }
}

impl ServerExchange {
    /// The exchange for a HELLO; `channel` is what the link knows (its TLS exporter,
    /// its verified client certificate).
    pub fn start(
        cfg: &Arc<SaslServer>,
        channel: &ChannelFacts,
        hello: &Hello<'_>,
    ) -> Result<(Self, ServerStep), Refusal> {
        let mechanism = cfg.mechanism;
        if hello.mechanism != mechanism.name().as_bytes() {
            return Err(Refusal::new(
                MISMATCH,
                format!(
                    "SASL: the client runs {}, this server {mechanism}",
                    String::from_utf8_lossy(hello.mechanism)
                ),
            ));
        }
        let server_error = |e: &dyn std::fmt::Display| Refusal::new("500", format!("SASL: {e}"));
        let config = SASLConfig::builder()
            .with_registry(registry(mechanism))
            .with_callback(ServerCallback {
                cfg: cfg.clone(),
                certificate_name: channel.certificate_name.clone(),
            })
            .map_err(|e| server_error(&e))?;
        let binding = Binding(channel.tls_exporter.clone());
        let session = SASLServer::<Outcome, Binding>::with_cb(config, binding)
            .start_suggested(rsasl_mechanism(mechanism).mechanism)
            .map_err(|e| server_error(&e))?;
        let mut exchange = ServerExchange {
            mechanism,
            session: Some(session),
            rounds: 0,
        };
        let first = match hello.initial {
            Some(initial) => exchange.step(initial)?,
            // Every mechanism here starts with the client: an empty challenge asks
            // for its first message (RFC 4422 §5).
            None => ServerStep::Challenge(Vec::new()),
        };
        Ok((exchange, first))
    }

    /// A RESPONSE's message.
    pub fn on_response(&mut self, data: &[u8]) -> Result<ServerStep, Refusal> {
        self.rounds += 1;
        if self.rounds > SASL_ROUNDS_MAX {
            return Err(Refusal::malformed(format!(
                "more than {SASL_ROUNDS_MAX} SASL round trips"
            )));
        }
        self.step(data)
    }

    fn step(&mut self, input: &[u8]) -> Result<ServerStep, Refusal> {
        let m = self.mechanism;
        let Some(session) = &mut self.session else {
            return Err(Refusal::malformed("a RESPONSE after the exchange ended"));
        };
        // A -PLUS client binds (`p=`); one that says it does not, or thinks we cannot,
        // is refused rather than let through unbound.
        if m == SaslMechanism::ScramSha256Plus && self.rounds == 0 && !input.starts_with(b"p=") {
            return Err(Refusal::new(
                BINDING_MISMATCH,
                format!("{m}: the client does not bind to the TLS session"),
            ));
        }
        let (state, out) = match step(session, Some(input)) {
            Ok(r) => r,
            Err(e) => return Err(server_refusal(m, &e)),
        };
        if state.is_running() {
            return Ok(ServerStep::Challenge(out));
        }
        let validation = session.validation();
        self.session = None;
        match validation {
            Some(Ok(principal)) => Ok(ServerStep::Success {
                additional: state.has_sent_message().then_some(out),
                principal,
            }),
            Some(Err(reason)) => Err(Refusal::denied(reason)),
            // A SCRAM server that got a bad proof (or a channel binding that is not
            // this session's) ends without validating: a failure.
            None if out.starts_with(b"e=channel-binding") => Err(Refusal::new(
                BINDING_MISMATCH,
                format!("{m}: the client is bound to another TLS session"),
            )),
            None => Err(Refusal::denied(format!(
                "{m}: the client's proof did not verify ({})",
                String::from_utf8_lossy(&out)
            ))),
        }
    }
}

/// How rsasl's failure to step is answered.
fn server_refusal(m: SaslMechanism, e: &SessionError) -> Refusal {
    let text = e.to_string();
    match e {
        SessionError::MissingChannelBindingData(_) => Refusal::new(
            BINDING_MISMATCH,
            format!("{m}: the client binds to another channel type ({text})"),
        ),
        SessionError::MechanismError(inner) if text.contains("channel binding") => {
            Refusal::new(BINDING_MISMATCH, format!("{m}: {inner}"))
        }
        SessionError::ValidationError(_) | SessionError::CallbackError(_) => {
            Refusal::new("500", format!("{m}: {text}"))
        }
        _ => Refusal::denied(format!("{m}: {text}")),
    }
}
