//! CURVE throughput of vtx tcp6, PUSH to PULL in one process, beside NULL:
//! `cargo run --release --example curve_thr -- SIZE COUNT [null|curve]`. Prints
//! `msgs/s`. `scripts/bench-curve` runs it interleaved with libzmq's CURVE (pyzmq, two
//! processes) and reports the ratio. `curve_thr handshakes N` prints CURVE handshakes
//! per second on one core (both ends' cryptography, no I/O); `curve_thr scram N
//! [ITERATIONS]` ZMTP-SASL SCRAM-SHA-256 handshakes per second, server and client
//! apart.
use std::time::Instant;

/// CURVE handshakes per second on one core, both ends' work (HELLO, WELCOME,
/// INITIATE with its vouch, READY: the X25519 and box operations), sans-IO.
fn handshakes(n: usize) {
    use vtx::emul::zmtp::curve::{Client, Server, keypair_from};
    let (server_pub, server_sec) = keypair_from([1; 32]);
    let (_, client_sec) = keypair_from([2; 32]);
    let start = Instant::now();
    for i in 0..n {
        let seed = |k: u8| {
            let mut s = [k; 32];
            s[..8].copy_from_slice(&(i as u64).to_le_bytes());
            s
        };
        let mut c = Client::new(&server_pub, &client_sec, seed(3));
        let mut s = Server::new(&[&server_sec], seed(4));
        let welcome = s.on_hello(&c.hello()[6..]).unwrap_or_default();
        let initiate = c.on_welcome(&welcome[8..], b"").unwrap_or_default();
        s.on_initiate(&initiate[9..]).ok();
        let Ok((ready, _)) = s.ready(b"") else { return };
        std::hint::black_box(c.on_ready(&ready[6..]).is_ok());
    }
    println!("{:.0}", n as f64 / start.elapsed().as_secs_f64());
}

/// ZMTP-SASL SCRAM-SHA-256 handshakes per second with `iterations`, sans-IO: the
/// server's side alone (a few HMACs; its keys are stored) and the client's (PBKDF2 of
/// the iteration count, then the proof), each timed on its own.
fn scram(n: usize, iterations: u32) {
    use std::sync::Arc;
    use vtx::emul::sasl::{SaslClient, SaslMechanism, SaslServer, ScramUsers};
    use vtx::emul::security::AllowAny;
    use vtx::emul::stream::ChannelFacts;
    use vtx::emul::zmtp::sasl::{ClientExchange, Hello, ServerExchange, ServerStep};
    let m = SaslMechanism::ScramSha256;
    let users =
        ScramUsers::new().with_password("alice", "wonderland", b"0123456789abcdef", iterations);
    let server = Arc::new(SaslServer::new(
        m,
        Arc::new(users),
        Arc::new(AllowAny),
        [1; 32],
    ));
    let Some(client) = SaslClient::new(m, "alice", "wonderland").map(Arc::new) else {
        return;
    };
    let none = ChannelFacts::default();
    let (mut at_client, mut at_server) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for _ in 0..n {
        let t = Instant::now();
        let Ok((mut c, Some(first))) = ClientExchange::start(&client, &none) else {
            return;
        };
        at_client += t.elapsed();
        let t = Instant::now();
        let hello = Hello {
            mechanism: m.name().as_bytes(),
            initial: Some(&first),
        };
        let Ok((mut s, ServerStep::Challenge(server_first))) =
            ServerExchange::start(&server, &none, &hello)
        else {
            return;
        };
        at_server += t.elapsed();
        let t = Instant::now();
        let Ok(client_final) = c.on_challenge(&server_first) else {
            return;
        };
        at_client += t.elapsed();
        let t = Instant::now();
        let Ok(ServerStep::Success { additional, .. }) = s.on_response(&client_final) else {
            return;
        };
        at_server += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(c.on_welcome(additional.as_deref()).is_ok());
        at_client += t.elapsed();
    }
    let per_sec = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "server {:.0}/s, client {:.0}/s ({iterations} iterations)",
        per_sec(at_server),
        per_sec(at_client)
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("scram") {
        let arg = |i: usize| std::env::args().nth(i).and_then(|s| s.parse::<u32>().ok());
        scram(arg(2).unwrap_or(500) as usize, arg(3).unwrap_or(4096));
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("handshakes") {
        handshakes(
            std::env::args()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(2000),
        );
        return Ok(());
    }
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let count: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let curve = args.next().as_deref() != Some("null");
    let ctx = zmq::Context::new();
    let vtx = vtx::Vtx::new(&ctx);
    vtx.register_defaults()?;
    let pull = vtx.socket(zmq::PULL)?;
    let push = vtx.socket(zmq::PUSH)?;
    if curve {
        let (server_pub, server_sec) = vtx::emul::security::curve_keypair();
        let (_, client_sec) = vtx::emul::security::curve_keypair();
        pull.set_curve_server(&[&server_sec], vtx::emul::security::AllowAny)?;
        push.set_curve_client(&server_pub, &client_sec)?;
    }
    let ep = pull.bind("tcp6://[::1]:0")?;
    push.connect(&ep)?;
    let payload = vec![0x5Au8; size];
    push.send(&payload[..], 0)?;
    pull.recv_bytes(0)?;
    let receiver = std::thread::spawn(move || -> zmq::Result<()> {
        let mut msg = zmq::Message::new();
        for _ in 0..count {
            pull.recv(&mut msg, 0)?;
        }
        Ok(())
    });
    let start = Instant::now();
    for _ in 0..count {
        push.send(&payload[..], 0)?;
    }
    receiver.join().map_err(|_| "receiver panicked")??;
    let rate = count as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.0}");
    Ok(())
}
