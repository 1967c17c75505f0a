"""pyzmq behind `vtx proxy`, for vtx/tests/cli.rs: a REP that answers every request
with "python got: <request>", and a PUB that publishes "t-from-python" and noise,
each connecting to the proxy front given. Runs until killed."""
import sys
import time

import zmq

rep_front, pub_front = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
rep = ctx.socket(zmq.REP)
rep.connect(rep_front)
pub = ctx.socket(zmq.PUB)
pub.connect(pub_front)
poller = zmq.Poller()
poller.register(rep, zmq.POLLIN)
while True:
    if poller.poll(20):
        rep.send(b"python got: " + rep.recv())
    pub.send(b"x-noise")
    pub.send(b"t-from-python")
