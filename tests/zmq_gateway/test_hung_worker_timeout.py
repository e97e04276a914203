"""A hung worker (--request-timeout): worker rank 1 is stopped with SIGSTOP under load. Checked:
rank 2 keeps serving; the requests stuck on rank 1 get "request timed out on rank 1 after T s";
$stats marks rank 1 suspect (no new work) with the count of its time-outs; after SIGCONT its late
replies are dropped and counted (one per time-out), it is no longer suspect and serves again; every
request got exactly one reply (no duplicate, nothing lost)."""
import os
import signal
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check, fail, ranks_of, wait_until, workers  # noqa: E402

TIMEOUT_S = 2
INFLIGHT = 8

ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
sent = 0
replies = {}  # id -> list of replies (more than one is a duplicate)


def pump(seconds):
    """Keeps INFLIGHT sleep requests outstanding for SECONDS; returns (ok, timed_out) replies."""
    global sent
    ok = timed_out = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while sent - len(replies) < INFLIGHT:
            sock.send_multipart([b"%d" % sent, b"sleep", b'{"ms": 20}'])
            sent += 1
        if not sock.poll(100):
            continue
        m = sock.recv_multipart()
        replies.setdefault(m[0], []).append(m)
        if m[1:2] == [b"ok"]:
            ok += 1
        elif m[1].startswith(b"request timed out on rank 1 after "):
            timed_out += 1
        else:
            fail("unexpected reply %r" % m)
    return ok, timed_out


def rank(endpoint, r):
    return [w for w in workers(endpoint) if w["rank"] == r][0]


with Job(3, ["--request-timeout", str(TIMEOUT_S), "--max-inflight", "2"]) as job:
    wait_until(lambda: len(ranks_of(job.name)) == 3, 30, "the job's 3 ranks")
    sock.connect(job.endpoint)
    ok, _ = pump(1.0)
    check(ok > 0 and rank(job.endpoint, 1)["requests"] > 0, "rank 1 served nothing before the stop")
    pid = ranks_of(job.name)[1]
    os.kill(pid, signal.SIGSTOP)
    try:
        before = rank(job.endpoint, 2)["requests"]
        ok, timed_out = pump(TIMEOUT_S + 2.0)
        r1 = rank(job.endpoint, 1)
        served_by_2 = rank(job.endpoint, 2)["requests"] - before
        print("rank 1 stopped for %.1f s: %d ok replies (rank 2 served %d), %d timed out; "
              "rank 1 in $stats: %s" % (TIMEOUT_S + 2.0, ok, served_by_2, timed_out, r1))
        check(served_by_2 > 0 and ok > 0, "rank 2 stopped serving while rank 1 was stopped")
        check(timed_out > 0, "no request stuck on the stopped rank got the time-out error")
        check(r1["suspect"] is True, "rank 1 is not marked suspect in $stats: %s" % r1)
        check(r1["timed_out"] == timed_out,
              "$stats counts %d time-outs, the client got %d" % (r1["timed_out"], timed_out))
    finally:
        os.kill(pid, signal.SIGCONT)
    stuck_requests = r1["requests"]
    wait_until(lambda: not rank(job.endpoint, 1)["suspect"], 20, "rank 1 to answer after SIGCONT")
    pump(2.0)
    # Drain: every request sent gets its one reply; a duplicate (a late reply delivered after the
    # time-out error) would arrive before the $stats reply below, on the same socket, in order.
    while len(replies) < sent:
        check(sock.poll(10000), "%d of %d requests never answered" % (sent - len(replies), sent))
        m = sock.recv_multipart()
        replies.setdefault(m[0], []).append(m)
    r1 = rank(job.endpoint, 1)
    extra = sock.poll(500)
    dups = {k: v for k, v in replies.items() if len(v) > 1}
    check(not dups and not extra, "requests answered twice: %r" % list(dups.items())[:3])
    check(r1["requests"] > stuck_requests, "rank 1 served nothing after SIGCONT: %s" % r1)
    check(r1["late_replies"] == timed_out, "rank 1's %d late replies not all dropped and counted: "
          "%s" % (timed_out, r1))
    print("after SIGCONT: rank 1 %s; %d requests, %d replies, no duplicate" %
          (r1, sent, sum(len(v) for v in replies.values())))
print("ok: a stopped rank's requests time out, the others serve, it serves again, no duplicates")
