//! `vtx proxy`: a libzmq proxy between a native endpoint (the front: `tcp://`, `ipc://`,
//! any libzmq transport) and a vtx endpoint (the back), so an application in any language
//! reaches a vtx transport by pointing at the proxy.

use clap::{Args, ValueEnum};

use super::{CliError, CliResult, manager};

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The native libzmq endpoint, e.g. tcp://127.0.0.1:5555.
    #[arg(long)]
    front: String,
    /// The vtx endpoint, e.g. udp://192.0.2.1:32000.
    #[arg(long)]
    back: String,
    /// The pattern carried.
    #[arg(long, value_enum, default_value_t = Pattern::Reqrep)]
    pattern: Pattern,
    /// Which side the clients, publishers or pushers are on.
    #[arg(long, value_enum, default_value_t = Side::Front)]
    from: Side,
    /// Connect the front instead of binding it.
    #[arg(long)]
    front_connect: bool,
    /// Bind the back instead of connecting it.
    #[arg(long)]
    back_bind: bool,
    #[command(flatten)]
    tls: super::TlsArgs,
    /// ZMTP security of the vtx side.
    #[command(flatten)]
    security: super::SecurityArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Pattern {
    /// REQ/REP (and DEALER/ROUTER): ROUTER on the clients' side, DEALER on the servers'.
    Reqrep,
    /// PUB/SUB: XSUB on the publishers' side, XPUB on the subscribers'.
    Pubsub,
    /// PUSH/PULL: PULL on the pushers' side, PUSH on the pullers'.
    Pipeline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Side {
    /// The native side.
    Front,
    /// The vtx side.
    Back,
}

pub(crate) fn run(a: ProxyArgs) -> CliResult {
    if a.front
        .starts_with(&format!("{}://", a.back.split("://").next().unwrap_or("")))
    {
        return Err(CliError(
            "front and back use the same scheme: nothing to bridge".into(),
        ));
    }
    let ctx = zmq::Context::new();
    let vtx = manager(&ctx, &a.tls)?;
    // (socket facing the "from" side, socket facing the other side)
    let (toward_from, toward_to) = match a.pattern {
        Pattern::Reqrep => (zmq::ROUTER, zmq::DEALER),
        Pattern::Pubsub => (zmq::XSUB, zmq::XPUB),
        Pattern::Pipeline => (zmq::PULL, zmq::PUSH),
    };
    let (front_ty, back_ty) = match a.from {
        Side::Front => (toward_from, toward_to),
        Side::Back => (toward_to, toward_from),
    };
    let front = ctx.socket(front_ty)?;
    front.set_ipv6(true)?;
    if a.front_connect {
        front
            .connect(&a.front)
            .map_err(|e| CliError(format!("front {}: {e}", a.front)))?;
    } else {
        front
            .bind(&a.front)
            .map_err(|e| CliError(format!("front {}: {e}", a.front)))?;
        // libzmq takes `tcp://host:*`: say which port it picked.
        if let Ok(Ok(bound)) = front.get_last_endpoint() {
            eprintln!("front bound {bound}");
        }
    }
    let back = vtx.socket(back_ty)?;
    a.security.apply(&vtx, &ctx, &back)?;
    if a.back_bind {
        let bound = back.bind(&a.back)?;
        eprintln!("back bound {bound}");
    } else {
        back.connect(&a.back)?;
    }
    eprintln!("proxy {:?}: {} <-> {}", a.pattern, a.front, a.back);
    let (f, b) = match a.from {
        Side::Front => (&front, back.pipe_end()),
        Side::Back => (back.pipe_end(), &front),
    };
    zmq::proxy(f, b).map_err(|e| CliError(format!("proxy stopped: {e}")))?;
    Ok(())
}
