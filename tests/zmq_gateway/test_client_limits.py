"""Per-client in-flight limit: a greedy client that sends 40 slow requests at once gets 4 run
(--max-client-inflight 4) and error replies for the rest, and a second client is served promptly
instead of waiting behind the greedy one's queue. $stats rate limit: of 2000 $stats sent at once
about 50 are answered, the rest refused, and the second client is still served."""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check  # noqa: E402

ctx = zmq.Context()
with Job(3, ["--max-client-inflight", "4", "--max-inflight", "1"]) as job:
    greedy = ctx.socket(zmq.DEALER)
    polite = ctx.socket(zmq.DEALER)
    for s in (greedy, polite):
        s.setsockopt(zmq.LINGER, 0)
        s.connect(job.endpoint)
    polite.send_multipart([b"warm", b"echo", b"x"])  # connected and served before the flood
    check(polite.poll(30000) and polite.recv_multipart()[1] == b"ok", "polite client not served")
    for i in range(40):
        greedy.send_multipart([b"%d" % i, b"sleep", b'{"ms": 300}'])
    time.sleep(0.2)  # the flood reaches the gateway first
    t0 = time.monotonic()
    polite.send_multipart([b"p", b"echo", b"hello"])
    check(polite.poll(10000), "the polite client got no reply")
    waited = time.monotonic() - t0
    check(polite.recv_multipart() == [b"p", b"ok", b"hello"], "wrong reply to the polite client")
    # 2 workers x 1 slot: at most the greedy client's 4 requests (2 rounds of 300 ms) run first
    check(waited < 2.0, "the polite client waited %.1f s behind the greedy one" % waited)
    ok = refused = 0
    while ok + refused < 40:
        check(greedy.poll(20000), "greedy client: %d ok + %d refused of 40" % (ok, refused))
        m = greedy.recv_multipart()
        if len(m) == 3 and m[1] == b"ok":
            ok += 1
        else:
            check(b"--max-client-inflight" in m[1], "unexpected error: %r" % m)
            refused += 1
    check(ok >= 4 and refused >= 30, "greedy client: %d ok, %d refused" % (ok, refused))
    print("polite client answered in %.2f s; greedy client: %d run, %d refused" % (waited, ok, refused))
    # $stats flood: 2000 asked at once; at most the burst plus the rate (50 + 50/s) are answered
    # with the document, the rest refused at once; the polite client is still served
    for i in range(2000):
        greedy.send_multipart([b"s%d" % i, b"$stats", b""])
    served = limited = 0
    while served + limited < 2000:
        check(greedy.poll(20000), "$stats flood: %d served + %d refused of 2000" % (served, limited))
        m = greedy.recv_multipart()
        if m[1:2] == [b"ok"]:
            served += 1
        else:
            check(b"$stats asked more than 50 times a second" in m[1], "unexpected: %r" % m[:2])
            limited += 1
    polite.send_multipart([b"p2", b"echo", b"after"])
    check(polite.poll(10000) and polite.recv_multipart() == [b"p2", b"ok", b"after"],
          "the polite client is not served after a $stats flood")
    check(served >= 50 and limited > 1000, "$stats flood: %d served, %d refused" % (served, limited))
    print("$stats flood of 2000: %d served, %d refused" % (served, limited))
    greedy.close()
    polite.close()
    check(job.stop() == 0, "kfarm exited non-zero after SIGTERM:\n" + job.output())
ctx.term()
print("ok: per-client in-flight limit")
