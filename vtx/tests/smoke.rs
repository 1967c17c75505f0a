use vtx::Vtx;
use vtx_emul::testing::unix_transport;

#[test]
fn req_rep_over_unix() {
    let _ = env_logger_init();
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("ipc", unix_transport()).unwrap();
    let rep = vtx.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(5000).unwrap();
    vtx.bind(&rep, "ipc://@vtx-smoke-1").unwrap();
    let req = vtx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(5000).unwrap();
    vtx.connect(&req, "ipc://@vtx-smoke-1").unwrap();
    for i in 0..10 {
        req.send(format!("hello {i}").as_bytes(), 0).unwrap();
        let m = rep.recv_bytes(0).unwrap();
        assert_eq!(m, format!("hello {i}").as_bytes());
        rep.send("ack", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"ack");
    }
    assert_eq!(rep.peer_count().unwrap(), 1);
}

fn env_logger_init() {}
