#!/usr/bin/env python3
"""A pyzmq (libzmq with libsodium) CURVE peer in its own process, for vtx's interop tests.

  pyzmq_curve.py serve TYPE SERVER_SECRET ALLOWED_CLIENT_PUBLIC N
      binds TYPE (rep, router or pub) on tcp://[::1]:*, prints "bound tcp://[::1]:PORT",
      runs a ZAP handler that lets in ALLOWED_CLIENT_PUBLIC only (User-Id: the key), and
      answers N requests with [b"ack", request..., User-Id]; a pub publishes
      b"x-not-subscribed" and b"t<i>" every 5 ms for N seconds.
  pyzmq_curve.py connect TYPE ENDPOINT SERVER_PUBLIC CLIENT_PUBLIC CLIENT_SECRET N
      connects TYPE (req, dealer or sub) as a CURVE client: req/dealer send N requests
      and check each answer; sub subscribes to b"t" and receives N messages.
"""
import sys
import threading
import time

import zmq
import zmq.utils.z85

if not zmq.has("curve"):
    print(f"libzmq {zmq.zmq_version()} here has no CURVE", file=sys.stderr)
    sys.exit(2)

ctx = zmq.Context()


def zap_handler(allowed, ready):
    zap = ctx.socket(zmq.REP)
    zap.setsockopt(zmq.LINGER, 0)
    zap.bind("inproc://zeromq.zap.01")
    ready.set()
    while True:
        try:
            req = zap.recv_multipart()
        except zmq.ContextTerminated:
            zap.close()
            return
        version, rid, _domain, _address, _identity, mechanism = req[:6]
        key = req[6] if mechanism == b"CURVE" and len(req) > 6 else b""
        ok = zmq.utils.z85.encode(key) == allowed if key else False
        status, user = (b"200", zmq.utils.z85.encode(key)) if ok else (b"400", b"")
        zap.send_multipart([version, rid, status, b"denied" if not ok else b"OK", user, b""])


def serve(kind, server_secret, allowed, n):
    ready = threading.Event()
    threading.Thread(target=zap_handler, args=(allowed.encode(), ready), daemon=True).start()
    ready.wait()
    s = ctx.socket({"rep": zmq.REP, "router": zmq.ROUTER, "pub": zmq.PUB}[kind])
    s.setsockopt(zmq.IPV6, 1)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.curve_server = True
    s.curve_secretkey = server_secret.encode()
    s.bind("tcp://[::1]:*")
    print("bound", s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    if kind == "pub":
        # Until the test has its messages and stops us (at most n seconds).
        for i in range(n * 200):
            s.send(b"x-not-subscribed")
            s.send(b"t%d" % i)
            time.sleep(0.005)
        s.close()
        return
    for _ in range(n):
        frames = s.recv_multipart(copy=False)
        user = frames[-1].get("User-Id").encode()
        body = [f.bytes for f in frames]
        if kind == "router":
            s.send_multipart(body[:2] + [b"ack"] + body[2:] + [user])
        else:
            s.send_multipart([b"ack"] + body + [user])
    s.close(linger=5000)  # the last answer goes out before the process ends


def connect(kind, endpoint, server_public, client_public, client_secret, n):
    s = ctx.socket({"req": zmq.REQ, "dealer": zmq.DEALER, "sub": zmq.SUB}[kind])
    s.setsockopt(zmq.IPV6, 1)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.curve_serverkey = server_public.encode()
    s.curve_publickey = client_public.encode()
    s.curve_secretkey = client_secret.encode()
    if kind == "sub":
        s.setsockopt(zmq.SUBSCRIBE, b"t")
    s.connect(endpoint)
    for i in range(n):
        if kind == "sub":
            msg = s.recv_multipart()
            if not msg[0].startswith(b"t"):
                sys.exit(f"unsubscribed message {msg!r}")
            continue
        body = [b"py", str(i).encode(), bytes(i % 7) * 10000]
        s.send_multipart(([b""] if kind == "dealer" else []) + body)
        reply = s.recv_multipart()
        if kind == "dealer":
            reply = reply[1:]
        if reply != [b"ack"] + body:
            sys.exit(f"bad reply {reply[:2]!r} to {i}")
    print(f"pyzmq {zmq.pyzmq_version()} / libzmq {zmq.zmq_version()}: {kind} {n} ok", flush=True)
    s.close()


if __name__ == "__main__":
    mode, kind, *rest = sys.argv[1:]
    if mode == "serve":
        serve(kind, rest[0], rest[1], int(rest[2]))
    else:
        connect(kind, rest[0], rest[1], rest[2], rest[3], int(rest[4]))
    ctx.term()
