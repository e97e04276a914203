"""Bad input: each malformed request gets an error reply [id, message] where it has an id (a logged
drop otherwise), and the gateway and workers keep serving afterwards."""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check, wait_until  # noqa: E402

LIMIT = 4096
with Job(3, ["--max-message-bytes", str(LIMIT)]) as job:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.connect(job.endpoint)
    pub = ctx.socket(zmq.XPUB)  # an XPUB sees the gateway's subscription arrive
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.RCVTIMEO, 10000)
    pub.connect(job.broadcast_endpoint)

    def expect_error(frames, needle):
        s.send_multipart(frames)
        try:
            reply = s.recv_multipart()
        except zmq.Again:
            check(False, "no reply to %r" % (frames[:3],))
        check(len(reply) == 2, "expected [id, error] for %r, got %r" % (frames[:3], reply))
        check(reply[0] == frames[0], "error reply has id %r, request had %r" % (reply[0], frames[0]))
        check(needle.encode() in reply[1], "error %r does not mention %r" % (reply[1], needle))

    def expect_ok(rid=b"ok1"):
        s.send_multipart([rid, b"echo", b"still here"])
        check(s.recv_multipart() == [rid, b"ok", b"still here"], "gateway stopped serving")

    expect_error([b"1"], "1 frames")
    expect_error([b"2", b"echo"], "2 frames")
    expect_error([b"4", b"echo", b"x", b"extra"], "4 frames")
    expect_error([b"50"] + [b"f"] * 49, "50 frames")
    expect_error([b"", b"echo", b"x"], "empty id")
    expect_error([b"6", b"no-such-kind", b"x"], "unknown kind 'no-such-kind'")
    expect_error([b"7", b"\xff\xfeecho", b"x"], "UTF-8")
    expect_error([b"8", b"echo", b"x" * (LIMIT + 1)], "--max-message-bytes")
    expect_error([b"9", b"fail", b"boom"], "always fails")
    expect_error([b"10", b"sleep", b"not json"], "not JSON")
    expect_error([b"11", b"$nope", b""], "unknown gateway command")
    # an id over the 256-byte maximum: refused, and the reply echoes only its first 256 bytes
    s.send_multipart([b"i" * 300, b"echo", b"x"])
    reply = s.recv_multipart()
    check(reply[0] == b"i" * 256 and b"maximum of 256 bytes" in reply[1],
          "oversized id: got [%d-byte id, %r]" % (len(reply[0]), reply[1:]))
    # a frame over twice --max-message-bytes: libzmq (ZMQ_MAXMSGSIZE) closes that connection
    # before buffering it; no reply, the gateway serves the others
    huge = ctx.socket(zmq.DEALER)
    huge.setsockopt(zmq.LINGER, 0)
    huge.connect(job.endpoint)
    huge.send_multipart([b"h", b"echo", b"x" * (3 * LIMIT)])
    check(not huge.poll(1000), "a frame over twice the limit was answered, so it was buffered")
    huge.close()
    expect_ok()
    # A malformed broadcast is dropped with a log line; the next good one still arrives.
    check(pub.recv()[:1] == b"\x01", "the gateway did not subscribe to the broadcast socket")
    pub.send_multipart([b"set-state", b"x", b"extra"])
    pub.send_multipart([b"set-state", b"good"])
    deadline = time.monotonic() + 10
    state = None
    while time.monotonic() < deadline and state != b"good":
        s.send_multipart([b"g", b"get-state", b""])
        state = s.recv_multipart()[2]
    check(state == b"good", "a good broadcast after a malformed one was not applied")
    expect_ok(b"ok2")
    s.close()
    pub.close()
    ctx.term()
    # srun forwards the ranks' output asynchronously: wait for the line, bounded.
    wait_until(lambda: "broadcast of 3 frames dropped" in job.output(), 10,
               "the gateway to log the malformed broadcast")
    status = job.stop()
    check(status == 0, "kfarm exited %s after SIGTERM" % status)
print("ok: every bad input answered or logged, gateway still serving")
