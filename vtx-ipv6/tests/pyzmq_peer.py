#!/usr/bin/env python3
"""A pyzmq REQ in its own process talking to a vtx tcp6 REP: python3 pyzmq_peer.py ENDPOINT N."""
import sys

import zmq

endpoint, n = sys.argv[1], int(sys.argv[2])
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.IPV6, 1)
s.setsockopt(zmq.RCVTIMEO, 5000)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
for i in range(n):
    s.send_multipart([b"py", str(i).encode()])
    reply = s.recv_multipart()
    if reply != [b"ack", str(i).encode()]:
        print(f"bad reply {reply!r} to {i}", file=sys.stderr)
        sys.exit(1)
print(f"pyzmq {zmq.pyzmq_version()} / libzmq {zmq.zmq_version()}: {n} round trips ok")
