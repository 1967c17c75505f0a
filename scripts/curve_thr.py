#!/usr/bin/env python3
"""libzmq's CURVE throughput, PUSH to PULL over tcp://[::1] in two processes (pyzmq with
libsodium): python3 curve_thr.py SIZE COUNT [null|curve]. Prints msgs/s."""
import multiprocessing
import sys
import time

import zmq


def pull(ep_queue, keys, count, curve):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.IPV6, 1)
    if curve:
        s.curve_server = True
        s.curve_secretkey = keys[1]
    s.bind("tcp://[::1]:*")
    ep_queue.put(s.getsockopt_string(zmq.LAST_ENDPOINT))
    s.recv()
    ep_queue.put("warm")
    for _ in range(count):
        s.recv(copy=False)
    ep_queue.put(time.perf_counter())


def main():
    size, count = int(sys.argv[1]), int(sys.argv[2])
    curve = len(sys.argv) < 4 or sys.argv[3] != "null"
    server = zmq.curve_keypair()
    client = zmq.curve_keypair()
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=pull, args=(q, server, count, curve))
    p.start()
    ep = q.get()
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.IPV6, 1)
    if curve:
        s.curve_serverkey = server[0]
        s.curve_publickey, s.curve_secretkey = client
    s.connect(ep)
    payload = b"Z" * size
    s.send(payload)
    q.get()
    start = time.perf_counter()
    for _ in range(count):
        s.send(payload, copy=False)
    end = q.get()
    p.join()
    print(f"{count / (end - start):.0f}")


if __name__ == "__main__":
    main()
