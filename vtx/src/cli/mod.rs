//! Argument parsing and dispatch for the `vtx` command.

mod bench;
mod cat;
mod demo;
mod proxy;
mod zap_relay;

use std::fmt;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use vtx::emul::security::Authenticator;

/// VTX: 0MQ transports libzmq does not have (UDP with discovery, TLS, SCTP, ZMTP over
/// IPv6), usable from any 0MQ binding through `vtx proxy`.
#[derive(Debug, Parser)]
#[command(name = "vtx", version, about, propagate_version = true)]
pub(crate) struct Args {
    /// More logging (-v info, -vv debug); RUST_LOG works too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The seed's example: a REP on udp://*:PORT and a REQ that finds it by broadcast.
    Demo(demo::DemoArgs),
    /// Send stdin lines (or files) to, or print messages from, any vtx endpoint.
    Cat(cat::CatArgs),
    /// Bridge a native libzmq endpoint (tcp://, ipc://) and a vtx endpoint.
    Proxy(proxy::ProxyArgs),
    /// Throughput and latency of vtx transports against native libzmq tcp, in one run.
    Bench(bench::BenchArgs),
    /// Print a new CURVE key pair in Z85, as libzmq's zmq_curve_keypair makes one: the
    /// public key on the first line, the secret key on the second.
    Keygen,
    /// Print a SASL server's credential line for USER, `USER:{SCRAM-SHA-256}...`
    /// (after the colon as `gsasl --mkpasswd` prints it), the password read from stdin.
    Mkpasswd(MkpasswdArgs),
}

/// `vtx mkpasswd`.
#[derive(Debug, clap::Args)]
struct MkpasswdArgs {
    /// The user name.
    user: String,
    /// PBKDF2 iterations: what a client spends per handshake (the server spends a few
    /// HMACs); 4096 is RFC 7677's minimum and the default.
    #[arg(long, default_value_t = vtx::emul::sasl::SCRAM_ITERATIONS)]
    iterations: u32,
}

/// A 0MQ socket type on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SockType {
    Req,
    Rep,
    Dealer,
    Router,
    Pub,
    Sub,
    Xpub,
    Xsub,
    Push,
    Pull,
    Pair,
}

impl SockType {
    pub(crate) fn zmq(self) -> zmq::SocketType {
        match self {
            SockType::Req => zmq::REQ,
            SockType::Rep => zmq::REP,
            SockType::Dealer => zmq::DEALER,
            SockType::Router => zmq::ROUTER,
            SockType::Pub => zmq::PUB,
            SockType::Sub => zmq::SUB,
            SockType::Xpub => zmq::XPUB,
            SockType::Xsub => zmq::XSUB,
            SockType::Push => zmq::PUSH,
            SockType::Pull => zmq::PULL,
            SockType::Pair => zmq::PAIR,
        }
    }
}

/// An error for the user: one line, no backtrace.
#[derive(Debug)]
pub(crate) struct CliError(pub(crate) String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<vtx::Error> for CliError {
    fn from(e: vtx::Error) -> CliError {
        match e {
            vtx::Error::UnknownScheme { scheme } => CliError(format!(
                "no transport `{scheme}` in this build (available: {})",
                available().join(", ")
            )),
            e => CliError(e.to_string()),
        }
    }
}

impl From<zmq::Error> for CliError {
    fn from(e: zmq::Error) -> CliError {
        CliError(format!("libzmq: {e}"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError(e.to_string())
    }
}

pub(crate) type CliResult<T = ()> = Result<T, CliError>;

/// Transports compiled into this binary.
pub(crate) fn available() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "udp") {
        v.push("udp");
    }
    if cfg!(feature = "ipv6") {
        v.push("tcp6");
    }
    if cfg!(feature = "tls") {
        v.push("tls");
    }
    if cfg!(feature = "sctp") {
        v.push("sctp");
    }
    if cfg!(feature = "ws") {
        v.push("ws");
    }
    if cfg!(all(feature = "ws", feature = "tls")) {
        v.push("wss");
    }
    v
}

/// Certificates for `tls://` endpoints.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct TlsArgs {
    /// tls: certificate chain (PEM) to present: the server's, or the client's for mutual TLS.
    #[arg(long, value_name = "FILE")]
    cert: Option<std::path::PathBuf>,
    /// tls: private key (PEM) of --cert.
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// tls: CA bundle (PEM) that verifies the peer.
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// tls: servers require clients to present a certificate signed by --ca.
    #[arg(long)]
    require_client_cert: bool,
}

/// ZMTP security for the vtx socket (libzmq's option names).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct SecurityArgs {
    /// Act as a CURVE server with --curve-secretkey (repeatable: the first is the
    /// current key, the others still accepted), letting in the --allow-key clients
    /// (every client when none is given).
    #[arg(long)]
    curve_server: bool,
    /// CURVE secret key, Z85, or @FILE (its first line).
    #[arg(long, value_name = "Z85|@FILE", allow_hyphen_values = true)]
    curve_secretkey: Vec<String>,
    /// CURVE client: the server's public key, Z85 or @FILE.
    #[arg(long, value_name = "Z85|@FILE", allow_hyphen_values = true)]
    curve_serverkey: Option<String>,
    /// CURVE server: a client public key (Z85) let in (repeatable).
    #[arg(long, value_name = "Z85", allow_hyphen_values = true)]
    allow_key: Vec<String>,
    /// Act as a PLAIN server: clients must present --plain-username and
    /// --plain-password (the one user let in).
    #[arg(long)]
    plain_server: bool,
    /// PLAIN user name: the client's, or the one a --plain-server lets in.
    #[arg(long, value_name = "USER")]
    plain_username: Option<String>,
    /// PLAIN password, or @FILE to read it from a file (its first line).
    #[arg(long, value_name = "PASSWORD|@FILE", allow_hyphen_values = true)]
    plain_password: Option<String>,
    /// ZMTP-SASL (docs/zmtp-sasl.md) with this SASL mechanism: SCRAM-SHA-256 (any
    /// transport), SCRAM-SHA-256-PLUS, EXTERNAL or PLAIN (tls:// only).
    #[arg(long, value_name = "MECHANISM")]
    sasl_mechanism: Option<String>,
    /// SASL client: the user (authentication identity).
    #[arg(long, value_name = "USER")]
    sasl_username: Option<String>,
    /// SASL client: the password, or @FILE (its first line).
    #[arg(long, value_name = "PASSWORD|@FILE", allow_hyphen_values = true)]
    sasl_password: Option<String>,
    /// SASL server: the users' SCRAM keys, one `user:{SCRAM-SHA-256}...` line each
    /// (`vtx mkpasswd` or `gsasl --mkpasswd` makes the part after the colon).
    #[arg(long, value_name = "FILE")]
    sasl_credentials: Option<std::path::PathBuf>,
    /// Act as a SASL server (implied by --sasl-credentials; EXTERNAL needs no file).
    #[arg(long)]
    sasl_server: bool,
    /// Servers: a ZAP handler (RFC 27) decides on each client, asked with this domain
    /// (libzmq's ZAP_DOMAIN), instead of --plain-username/--allow-key; needs
    /// --zap-endpoint.
    #[arg(long, value_name = "DOMAIN")]
    zap_domain: Option<String>,
    /// Where that ZAP handler is (a REP or ROUTER on any libzmq endpoint,
    /// tcp://127.0.0.1:7000): the command relays its own ZAP requests there.
    #[arg(long, value_name = "ENDPOINT")]
    zap_endpoint: Option<String>,
}

impl SecurityArgs {
    /// The ZAP authenticator `--zap-domain` asks for (its relay started), if any.
    fn zap(&self, vtx: &vtx::Vtx, ctx: &zmq::Context) -> CliResult<Option<Arc<dyn Authenticator>>> {
        match (&self.zap_domain, &self.zap_endpoint) {
            (None, None) => Ok(None),
            (Some(domain), Some(endpoint)) => {
                zap_relay::start(ctx, endpoint)?;
                Ok(Some(Arc::new(vtx.zap_authenticator(domain)?)))
            }
            _ => Err(CliError(
                "--zap-domain and --zap-endpoint go together".into(),
            )),
        }
    }

    /// Sets the mechanism asked for on `s`.
    pub(crate) fn apply(
        &self,
        vtx: &vtx::Vtx,
        ctx: &zmq::Context,
        s: &vtx::VtxSocket,
    ) -> CliResult {
        let zap = self.zap(vtx, ctx)?;
        let is_server = self.curve_server
            || self.plain_server
            || self.sasl_server
            || self.sasl_credentials.is_some();
        if zap.is_some() && !is_server {
            return Err(CliError("--zap-domain is for servers".into()));
        }
        let curve = self.curve_server || self.curve_serverkey.is_some();
        let plain =
            self.plain_server || self.plain_username.is_some() || self.plain_password.is_some();
        let sasl = self.sasl_mechanism.is_some()
            || self.sasl_server
            || self.sasl_credentials.is_some()
            || self.sasl_username.is_some()
            || self.sasl_password.is_some();
        if usize::from(curve) + usize::from(plain) + usize::from(sasl) > 1 {
            return Err(CliError(
                "one mechanism per socket: CURVE, PLAIN or SASL".into(),
            ));
        }
        if sasl {
            return self.apply_sasl(s, zap);
        }
        if curve {
            return self.apply_curve(s, zap);
        }
        if !self.curve_secretkey.is_empty() || !self.allow_key.is_empty() {
            return Err(CliError(
                "--curve-secretkey and --allow-key need --curve-server or --curve-serverkey".into(),
            ));
        }
        let password = self.plain_password.as_deref().map(secret).transpose()?;
        if let Some(zap) = zap {
            if self.plain_username.is_some() || password.is_some() {
                return Err(CliError(
                    "a PLAIN server asking ZAP takes no --plain-username".into(),
                ));
            }
            return Ok(s.set_security(vtx::emul::security::Security::PlainServer {
                authenticator: zap,
            })?);
        }
        match (self.plain_server, &self.plain_username, password) {
            (false, None, None) => Ok(()),
            (_, None, _) | (_, _, None) => Err(CliError(
                "PLAIN needs --plain-username and --plain-password".into(),
            )),
            (true, Some(user), Some(pass)) => {
                let users = vtx::emul::security::PlainPasswords::new()
                    .with_user(user.as_bytes(), pass.as_bytes());
                Ok(s.set_plain_server(users)?)
            }
            (false, Some(user), Some(pass)) => {
                Ok(s.set_plain_client(user.as_bytes(), pass.as_bytes())?)
            }
        }
    }

    fn apply_sasl(&self, s: &vtx::VtxSocket, zap: Option<Arc<dyn Authenticator>>) -> CliResult {
        use vtx::emul::sasl::{SaslClient, SaslMechanism, ScramUsers};
        let name = self.sasl_mechanism.as_deref().unwrap_or("SCRAM-SHA-256");
        let m = SaslMechanism::from_name(name).ok_or_else(|| {
            let all: Vec<&str> = SaslMechanism::ALL.iter().map(|m| m.name()).collect();
            CliError(format!(
                "--sasl-mechanism {name}: one of {}",
                all.join(", ")
            ))
        })?;
        if self.sasl_server || self.sasl_credentials.is_some() {
            if self.sasl_username.is_some() || self.sasl_password.is_some() {
                return Err(CliError(
                    "a SASL server takes --sasl-credentials, not a user and password".into(),
                ));
            }
            let users = match &self.sasl_credentials {
                Some(path) => {
                    let text = zeroize::Zeroizing::new(
                        std::fs::read_to_string(path)
                            .map_err(|e| CliError(format!("{}: {e}", path.display())))?,
                    );
                    ScramUsers::parse(&text)
                        .map_err(|e| CliError(format!("{}: {e}", path.display())))?
                }
                None if m == SaslMechanism::External => ScramUsers::new(),
                None => return Err(CliError(format!("a {m} server needs --sasl-credentials"))),
            };
            let authenticator = zap.unwrap_or_else(|| Arc::new(vtx::emul::security::AllowAny));
            let server = vtx::emul::sasl::SaslServer::random(m, Arc::new(users), authenticator);
            return Ok(s.set_security(vtx::emul::security::Security::SaslServer(Arc::new(server)))?);
        }
        let client = if m == SaslMechanism::External {
            SaslClient::external()
        } else {
            let (Some(user), Some(password)) = (&self.sasl_username, &self.sasl_password) else {
                return Err(CliError(format!(
                    "a {m} client needs --sasl-username and --sasl-password"
                )));
            };
            SaslClient::new(m, user, &secret(password)?).ok_or_else(|| {
                CliError("SASL user names and passwords are at most 255 bytes".into())
            })?
        };
        Ok(s.set_sasl_client(client)?)
    }

    fn apply_curve(&self, s: &vtx::VtxSocket, zap: Option<Arc<dyn Authenticator>>) -> CliResult {
        use vtx::emul::security::{AllowAny, AllowedKeys};
        let secrets = self
            .curve_secretkey
            .iter()
            .map(|k| key(k))
            .collect::<CliResult<Vec<_>>>()?;
        let keys: Vec<&str> = secrets.iter().map(|k| k.as_str()).collect();
        if keys.is_empty() {
            return Err(CliError("CURVE needs --curve-secretkey".into()));
        }
        if self.curve_server {
            if self.curve_serverkey.is_some() {
                return Err(CliError("--curve-server takes no --curve-serverkey".into()));
            }
            if let Some(zap) = zap {
                if !self.allow_key.is_empty() {
                    return Err(CliError("--zap-domain or --allow-key, not both".into()));
                }
                let server = vtx::emul::security::Security::curve_server(&keys, zap)
                    .ok_or_else(|| CliError("CURVE secret keys are Z85 keys".into()))?;
                return Ok(s.set_security(server)?);
            }
            if self.allow_key.is_empty() {
                return Ok(s.set_curve_server(&keys, AllowAny)?);
            }
            let mut allowed = AllowedKeys::new();
            for k in &self.allow_key {
                allowed = allowed
                    .with_key(k)
                    .ok_or_else(|| CliError(format!("--allow-key {k}: not a Z85 key")))?;
            }
            return Ok(s.set_curve_server(&keys, allowed)?);
        }
        let [secret_key] = keys.as_slice() else {
            return Err(CliError(
                "a CURVE client takes one --curve-secretkey".into(),
            ));
        };
        let server = key(self.curve_serverkey.as_deref().unwrap_or_default())?;
        Ok(s.set_curve_client(&server, secret_key)?)
    }
}

/// A CURVE key given as itself or as `@FILE`. Z85 has `@` among its characters, so a
/// 40-character Z85 key is a key even when it starts with one.
fn key(arg: &str) -> CliResult<zeroize::Zeroizing<String>> {
    if arg.len() == 40 && vtx::emul::security::z85_decode(arg).is_some() {
        return Ok(zeroize::Zeroizing::new(arg.to_owned()));
    }
    secret(arg)
}

/// A secret given as itself or as `@FILE` (the file's first line), so that it need
/// not appear in the process list.
fn secret(arg: &str) -> CliResult<zeroize::Zeroizing<String>> {
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(zeroize::Zeroizing::new(arg.to_owned()));
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| CliError(format!("{path}: {e}")))?,
    );
    Ok(zeroize::Zeroizing::new(
        text.lines().next().unwrap_or_default().to_owned(),
    ))
}

#[cfg(feature = "tls")]
fn tls_config(a: &TlsArgs) -> CliResult<vtx::tls::TlsConfig> {
    let mut b = vtx::tls::TlsConfig::builder();
    match (&a.cert, &a.key) {
        (Some(c), Some(k)) => {
            b = b.server_cert_pem(c, k)?.client_cert_pem(c, k)?;
        }
        (None, None) => {}
        _ => return Err(CliError("--cert and --key go together".into())),
    }
    if let Some(ca) = &a.ca {
        b = b.trust_pem(ca)?;
        if a.require_client_cert {
            b = b.require_client_cert_pem(ca)?;
        }
    } else if a.require_client_cert {
        return Err(CliError("--require-client-cert needs --ca".into()));
    }
    Ok(b.build()?)
}

/// A manager with every compiled-in transport registered.
pub(crate) fn manager(ctx: &zmq::Context, tls: &TlsArgs) -> CliResult<vtx::Vtx> {
    let v = vtx::Vtx::new(ctx);
    v.register_defaults()?;
    #[cfg(feature = "tls")]
    v.register("tls", vtx::tls::transport(tls_config(tls)?))?;
    #[cfg(all(feature = "tls", feature = "ws"))]
    v.register("wss", vtx::ws::wss_transport(tls_config(tls)?))?;
    #[cfg(not(feature = "tls"))]
    let _ = tls;
    Ok(v)
}

pub(crate) fn run(args: Args) -> CliResult {
    match args.command {
        Command::Demo(a) => demo::run(a),
        Command::Keygen => {
            let (public, secret) = vtx::emul::security::curve_keypair();
            println!("{public}\n{}", secret.as_str());
            Ok(())
        }
        Command::Mkpasswd(a) => {
            let mut password = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            if a.iterations == 0 || a.iterations > vtx::emul::sasl::SCRAM_ITERATIONS_MAX {
                return Err(CliError(format!(
                    "--iterations: 1 to {}",
                    vtx::emul::sasl::SCRAM_ITERATIONS_MAX
                )));
            }
            let salt: [u8; 16] = vtx::emul::sasl::random_salt();
            let keys = vtx::emul::sasl::ScramKeys::derive(password.as_bytes(), &salt, a.iterations);
            println!("{}:{}", a.user, keys.to_mkpasswd().as_str());
            Ok(())
        }
        Command::Cat(a) => cat::run(a),
        Command::Proxy(a) => proxy::run(a),
        Command::Bench(a) => bench::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Z85 keys may start with `@` (and `-`): such a key is a key, not a file name.
    #[test]
    fn a_z85_key_starting_with_at_is_a_key() {
        let at = (0u8..=255)
            .map(|n| vtx::emul::security::z85_encode(&[n; 32]))
            .find(|k| k.starts_with('@'))
            .unwrap_or_else(|| panic!("no key of repeated bytes starts with @"));
        assert_eq!(key(&at).map(|k| k.to_string()).ok(), Some(at.clone()));
        assert!(key("@/nonexistent/key/file").is_err());
    }
}
