// zeromq.js (npm `zeromq` 6.8.0, its prebuilt libzmq 4.3.5) against a vtx ws://
// socket, driven by vtx-ws/tests/zeromq_js.rs. Modes:
//   req ENDPOINT N   a REQ sends N two-frame requests, prints each reply
//   sub ENDPOINT N   a SUB to topic "t" prints N messages
//   rep ENDPOINT     a REP binds, prints "bound <endpoint>", echoes every request
//   pub ENDPOINT     a PUB binds, prints "bound <endpoint>", publishes until killed
const zmq = require(process.env.ZEROMQ_JS);

async function main() {
  const [mode, ep, n] = process.argv.slice(2);
  const count = Number(n || 0);
  if (mode === "req") {
    const s = new zmq.Request({ receiveTimeout: 5000, sendTimeout: 5000 });
    s.connect(ep);
    for (let i = 0; i < count; i++) {
      await s.send(["hello", String(i)]);
      const reply = await s.receive();
      console.log(reply.map((f) => f.toString()).join(" "));
    }
    s.close();
  } else if (mode === "sub") {
    const s = new zmq.Subscriber({ receiveTimeout: 5000 });
    s.connect(ep);
    s.subscribe("t");
    for (let i = 0; i < count; i++) {
      const [msg] = await s.receive();
      console.log(msg.toString());
    }
    s.close();
  } else if (mode === "rep") {
    const s = new zmq.Reply();
    await s.bind(ep);
    console.log("bound " + s.lastEndpoint);
    for await (const msg of s) {
      await s.send(msg);
    }
  } else if (mode === "pub") {
    const s = new zmq.Publisher();
    await s.bind(ep);
    console.log("bound " + s.lastEndpoint);
    for (let i = 0; ; i++) {
      await s.send(i % 2 ? "x-no" : "t-yes " + i);
      await new Promise((r) => setTimeout(r, 20));
    }
  } else {
    throw new Error("unknown mode " + mode);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
