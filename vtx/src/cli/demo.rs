//! `vtx demo`: the seed's example. A REP bound to `udp://*:PORT` and a REQ that finds it
//! by broadcasting OHAI to `udp://127.255.255.255:PORT`, printing what they say.

use clap::{Args, ValueEnum};

use super::{CliError, CliResult, manager};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Run one side only (for two terminals); both in one process by default.
    #[arg(value_enum)]
    role: Option<Role>,
    /// UDP port of the server (0: one the system picks, printed; in one process the
    /// client then looks there).
    #[arg(long, default_value_t = 32000)]
    port: u16,
    /// Where the client looks for servers (a broadcast address finds all of them).
    #[arg(long, default_value = "127.255.255.255")]
    broadcast: String,
    /// Requests the client sends.
    #[arg(long, default_value_t = 3)]
    count: u32,
    /// Give up after this many seconds without an answer.
    #[arg(long, default_value_t = 10)]
    timeout: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Role {
    /// The REP side.
    Server,
    /// The REQ side.
    Client,
}

/// The REP, and the port it bound.
fn bind_server(vtx: &vtx::Vtx, port: u16) -> CliResult<(vtx::VtxSocket, u16)> {
    let rep = vtx.socket(zmq::REP)?;
    let bound = rep.bind(&format!("udp://*:{port}"))?;
    println!("server: bound {bound}");
    let port = bound
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(port);
    Ok((rep, port))
}

fn serve(rep: &vtx::VtxSocket, count: Option<u32>, timeout: u32) -> CliResult {
    if count.is_some() {
        rep.set_rcvtimeo(timeout as i32 * 1000)?;
    }
    let mut served = 0;
    while count.is_none_or(|c| served < c) {
        let msg = match rep.recv_string(0) {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(CliError("server: request is not UTF-8".into())),
            Err(zmq::Error::EAGAIN) => {
                return Err(CliError(format!("server: no request within {timeout} s")));
            }
            Err(e) => return Err(e.into()),
        };
        let from = rep.last_peer()?.unwrap_or_default();
        println!("server: got {msg} from {from}");
        rep.send("ack", 0)?;
        println!("server: sent ack");
        served += 1;
    }
    Ok(())
}

fn client(vtx: &vtx::Vtx, target: &str, count: u32, timeout: u32) -> CliResult {
    let req = vtx.socket(zmq::REQ)?;
    req.set_rcvtimeo(timeout as i32 * 1000)?;
    req.connect(target)?;
    println!("client: looking for servers at {target}");
    for _ in 0..count {
        req.send("hello?", 0)?;
        println!("client: sent hello?");
        let reply = match req.recv_string(0) {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(CliError("client: reply is not UTF-8".into())),
            Err(zmq::Error::EAGAIN) => {
                return Err(CliError(format!(
                    "client: no server answered within {timeout} s at {target}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let from = req.last_peer()?.unwrap_or_default();
        println!("client: got {reply} from {from}");
    }
    Ok(())
}

pub(crate) fn run(a: DemoArgs) -> CliResult {
    let ctx = zmq::Context::new();
    let vtx = manager(&ctx, &Default::default())?;
    let target = |port| format!("udp://{}:{port}", a.broadcast);
    match a.role {
        Some(Role::Server) => serve(&bind_server(&vtx, a.port)?.0, None, a.timeout),
        Some(Role::Client) => client(&vtx, &target(a.port), a.count, a.timeout),
        None => {
            let (rep, port) = bind_server(&vtx, a.port)?;
            let target = target(port);
            let (count, timeout) = (a.count, a.timeout);
            std::thread::scope(|s| {
                let srv = s.spawn(move || serve(&rep, Some(count), timeout));
                let c = client(&vtx, &target, count, timeout);
                let srv = srv
                    .join()
                    .map_err(|_| CliError("server thread panicked".into()))?;
                c.and(srv)
            })
        }
    }
}
