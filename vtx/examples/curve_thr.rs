//! CURVE throughput of vtx tcp6, PUSH to PULL in one process, beside NULL:
//! `cargo run --release --example curve_thr -- SIZE COUNT [null|curve]`. Prints
//! `msgs/s`. `scripts/bench-curve` runs it interleaved with libzmq's CURVE (pyzmq, two
//! processes) and reports the ratio.
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
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
