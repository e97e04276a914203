"""Ordering: set-state v1..v100 sent as $broadcast:set-state on the request socket, interleaved
with pipelined get-state requests; every get-state reply shows a state no older than the last
broadcast sent before it on that socket, on whichever worker ran it."""
import os
import sys

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check  # noqa: E402


def check_ordering(endpoint):
    """Runs the check against a serving job at endpoint (also used by tests/scale)."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    expected_min = {}  # request id -> version of the last broadcast sent before it
    acks = set()
    next_id = 0
    for v in range(1, 101):
        bid = b"b%d" % v
        s.send_multipart([bid, b"$broadcast:set-state", b"%03d" % v])
        acks.add(bid)
        for _ in range(5):
            rid = str(next_id).encode()
            s.send_multipart([rid, b"get-state", b""])
            expected_min[rid] = v
            next_id += 1
    seen_versions = set()
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    while expected_min or acks:
        check(poller.poll(30000), "no reply in 30 s; %d requests and %d broadcasts unanswered"
              % (len(expected_min), len(acks)))
        frames = s.recv_multipart()
        check(len(frames) == 3 and frames[1] == b"ok", "error reply %r" % frames)
        if frames[0] in acks:
            acks.remove(frames[0])
            continue
        check(frames[0] in expected_min, "unknown or duplicated reply id %r" % frames[0])
        v = int(frames[2])
        check(v >= expected_min[frames[0]],
              "request %s saw state %d, older than broadcast %d sent before it"
              % (frames[0].decode(), v, expected_min[frames[0]]))
        seen_versions.add(v)
        del expected_min[frames[0]]
    s.close()
    ctx.term()
    check(len(seen_versions) >= 3, "too few distinct states observed: %r" % sorted(seen_versions))


if __name__ == "__main__":
    with Job(4, ["--max-inflight", "8"]) as job:
        check_ordering(job.endpoint)
    print("ok: 500 get-state requests never saw a state older than the broadcast before them")
