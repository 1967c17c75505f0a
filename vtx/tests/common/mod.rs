//! What the `vtx` crate's end-to-end tests share: a manager with every transport
//! (`tls` with a throwaway PKI), and `vtx` command children that bind port 0 and say
//! where.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use vtx::Vtx;
use vtx_emul::testing::process::ChildGuard;
use vtx_tls::testing::Pki;

pub const VTX: &str = env!("CARGO_BIN_EXE_vtx");

/// Every network transport of the crate.
pub const SCHEMES: [&str; 4] = ["udp", "tcp6", "tls", "sctp"];

/// A manager with the default transports and `tls` configured from `pki` (serving its
/// server certificate, trusting its CA).
pub fn manager(pki: &Pki) -> (zmq::Context, Vtx) {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register_defaults().unwrap();
    vtx.register("tls", vtx::tls::transport(vtx_tls::testing::config(pki)))
        .unwrap();
    (ctx, vtx)
}

/// The `vtx` command's TLS options for `scheme` (none for the others).
pub fn tls_args(pki: &Pki, scheme: &str) -> Vec<String> {
    if scheme != "tls" {
        return Vec::new();
    }
    let (cert, key) = pki.server();
    vec![
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
        "--ca".into(),
        pki.ca.display().to_string(),
    ]
}

/// Starts `vtx <args>` whose socket binds (port 0 or a given one), and returns it with
/// the endpoint it bound, read from its `bound ...` line. Its stderr is drained after.
pub fn spawn_bound(args: &[String]) -> (ChildGuard, String) {
    spawn_announcing(args, "bound ", Stdio::null())
}

/// Starts `vtx <args>` with `stdout`, and returns it with what follows `prefix` on the
/// first stderr line that starts with it (`bound `, `front bound `). Its stderr is
/// drained after, into the test's.
pub fn spawn_announcing(args: &[String], prefix: &str, stdout: Stdio) -> (ChildGuard, String) {
    let mut child = ChildGuard::spawn(
        Command::new(VTX)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped()),
    );
    let name = format!("vtx {} (`{prefix}`)", args.join(" "));
    let prefix = prefix.to_owned();
    let ep = child.announced(&name, Duration::from_secs(30), move |line| {
        line.strip_prefix(prefix.as_str()).map(str::to_owned)
    });
    (child, ep)
}

/// `vtx cat -t <ty> -b <endpoint>` with the TLS options `scheme` needs.
pub fn cat_bound(pki: &Pki, ty: &str, endpoint: &str) -> (ChildGuard, String) {
    let scheme = endpoint.split("://").next().unwrap();
    let mut args: Vec<String> = ["cat", "-t", ty, "-b", endpoint]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(tls_args(pki, scheme));
    spawn_bound(&args)
}

/// A metadata counter of a socket (0 when unset).
pub fn meta(s: &vtx::VtxSocket, key: &str) -> u64 {
    s.meta(key).unwrap().map_or(0, |v| v.parse().unwrap())
}
