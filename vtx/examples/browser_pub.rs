//! A vtx PUB that browsers subscribe to: `cargo run --example browser_pub`, then open
//! http://127.0.0.1:8000/ . The page's script speaks ZWS 2.0 itself (a dozen lines:
//! the bare `ZWS2.0` subprotocol, each ZMTP frame one binary message after a flags
//! octet) and shows what the PUB publishes on topic `time`.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PAGE: &str = r#"<!doctype html>
<pre id="out">connecting</pre>
<script>
const ws = new WebSocket("ws://127.0.0.1:8080/zmq", ["ZWS2.0"]);
ws.binaryType = "arraybuffer";
let greeted = false;
ws.onopen = () => {
  ws.send(new Uint8Array([0x00]));                                      // our identity: none
  ws.send(new Uint8Array([0x00, 0x01, ...new TextEncoder().encode("time")])); // subscribe
};
ws.onmessage = (e) => {
  const m = new Uint8Array(e.data);
  if (!greeted) { greeted = true; return; }                             // the PUB's identity
  document.getElementById("out").textContent = new TextDecoder().decode(m.subarray(1));
};
</script>
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = zmq::Context::new();
    let vtx = vtx::Vtx::new(&ctx);
    vtx.register("ws", vtx::ws::WsTransport::default())?;
    let publisher = vtx.socket(zmq::PUB)?;
    publisher.bind("ws://127.0.0.1:8080/zmq")?;
    let http = TcpListener::bind("127.0.0.1:8000")?;
    std::thread::spawn(move || {
        for conn in http.incoming().flatten() {
            let mut conn = conn;
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                PAGE.len()
            );
        }
    });
    println!("open http://127.0.0.1:8000/");
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        publisher.send(format!("time {now}").as_bytes(), 0)?;
        println!("published time {now} to {} page(s)", publisher.peer_count());
        std::thread::sleep(Duration::from_secs(1));
    }
}
