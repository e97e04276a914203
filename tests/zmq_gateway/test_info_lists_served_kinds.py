"""$info on the request socket answers the protocol version, the topic, the number of gateways and
workers, each served kind with its variants and ranks, and the broadcast kinds the workers handle.
An ordered broadcast ($broadcast:<kind>) of a kind no worker handles gets an error reply; a PUB
broadcast of one is logged once per kind, however often it comes."""
import json
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check, wait_until  # noqa: E402

TOPIC = "app:"


def ask(s, rid, kind, payload=b""):
    """(b"ok", output) or (b"error", message): a failure is the two frames [id, message]."""
    s.send_multipart([rid, kind, payload])
    check(s.poll(30000), "no reply to %r in 30 s" % kind)
    frames = s.recv_multipart()
    check(len(frames) in (2, 3) and frames[0] == rid, "reply to %r: %r" % (kind, frames))
    return (frames[1], frames[2]) if len(frames) == 3 else (b"error", frames[1])


with Job(3, ["--topic", TOPIC]) as job:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(job.endpoint)
    status, body = ask(s, b"i", b"$info")
    check(status == b"ok", "$info: %r %r" % (status, body))
    info = json.loads(body)
    print(json.dumps(info))
    check(info["protocol"] == 1 and info["topic"] == TOPIC, "protocol/topic: %r" % info)
    check(info["gateways"] == 1 and info["workers"] == 2, "gateways/workers: %r" % info)
    kinds = {k["kind"]: k for k in info["kinds"]}
    check({"echo", "get-state", "fail", "sleep"} <= set(kinds), "kinds: %r" % sorted(kinds))
    check(kinds["echo"]["variants"] == ["cpu"] and kinds["echo"]["ranks"] == [1, 2],
          "echo: %r" % kinds["echo"])
    check("knobs" in kinds["echo"] and "features" in kinds["echo"], "echo: %r" % kinds["echo"])
    check(info["broadcasts"] == ["set-state"], "broadcasts: %r" % info["broadcasts"])

    status, body = ask(s, b"b1", b"$broadcast:" + TOPIC.encode() + b"no-such-state")
    check(status == b"error" and b"no worker handles broadcast 'no-such-state'" in body,
          "ordered broadcast of an unhandled kind: %r %r" % (status, body))
    status, body = ask(s, b"b2", b"$broadcast:set-state", b"v2")
    check(status == b"ok", "ordered broadcast of set-state: %r %r" % (status, body))

    # PUB: sent until the gateway's subscription is up and it logged the kind, then 20 more.
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(job.broadcast_endpoint)
    line = "broadcast 'no-such-state' dropped: no worker handles it"

    def logged():
        pub.send_multipart([TOPIC.encode() + b"no-such-state", b"x"])
        return line in job.output()

    wait_until(logged, 30, "the gateway's warning about a PUB broadcast no worker handles")
    for _ in range(20):
        pub.send_multipart([TOPIC.encode() + b"no-such-state", b"x"])
    pub.send_multipart([TOPIC.encode() + b"set-state", b"v3"])
    wait_until(lambda: ask(s, str(time.monotonic()).encode(), b"get-state")[1] == b"v3", 30,
               "set-state v3 sent by PUB after the unhandled ones")
    n = job.output().count(line)
    check(n == 1, "the unhandled PUB broadcast was logged %d times, want once:\n%s"
          % (n, job.output()))
    s.close()
    pub.close()
    ctx.term()
    check(job.stop() == 0, "kfarm did not stop cleanly:\n" + job.output())
print("ok: $info lists kinds, ranks and broadcasts; unhandled broadcasts refused or logged once")
