"""A client that sends 10^5 requests and never reads its replies (--max-client-replies 1000): the
gateway's RSS grows by less than RSS_BOUND_MIB (without the bound it queues every reply: over
100 MiB here), $stats counts the dropped replies, and a second client gets every one of its
replies all along."""
import os
import sys

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check, ranks_of, sanitized_build, stats, wait_until  # noqa: E402

N = 100000
PAYLOAD = b"x" * 1024
HWM = 1000
# docs/security.md: replies queued <= HWM x (reply size ~1.1 KiB) plus held requests
# (--max-client-inflight 4096 x ~1.1 KiB) plus allocator slack.
RSS_BOUND_MIB = 24


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


ctx = zmq.Context()
with Job(3, ["--max-client-replies", str(HWM)]) as job:
    wait_until(lambda: len(ranks_of(job.name)) == 3, 30, "the job's 3 ranks")
    gw = ranks_of(job.name)[0]
    deaf = ctx.socket(zmq.DEALER)
    polite = ctx.socket(zmq.DEALER)
    deaf.setsockopt(zmq.RCVHWM, 1)  # reads nothing: TCP and libzmq buffers fill, then the gateway's
    for s in (deaf, polite):
        s.setsockopt(zmq.LINGER, 0)
        s.connect(job.endpoint)
    polite.send_multipart([b"warm", b"echo", b"x"])
    check(polite.poll(30000) and polite.recv_multipart()[1] == b"ok", "polite client not served")
    rss0 = rss_mib(gw)
    sent = answered = 0
    peak = rss0
    while sent < N:
        for _ in range(1000):
            deaf.send_multipart([b"%d" % sent, b"echo", PAYLOAD])  # blocks while the gateway lags
            sent += 1
        polite.send_multipart([b"p%d" % sent, b"echo", b"hello"])
        check(polite.poll(30000), "the polite client got no reply after %d deaf requests" % sent)
        m = polite.recv_multipart()
        check(m == [b"p%d" % sent, b"ok", b"hello"], "polite client: wrong reply %r" % m[:2])
        answered += 1
        peak = max(peak, rss_mib(gw))
    # the gateway takes (runs or refuses) all it received; its memory stays bounded meanwhile
    def taken():
        global peak
        peak = max(peak, rss_mib(gw))
        s = stats(job.endpoint)
        return s["requests"] + s["gateway_errors"] >= N
    wait_until(taken, 120, "the gateway to take all %d requests" % N)
    s = stats(job.endpoint)
    print("gateway RSS %.1f MiB before, peak %.1f MiB (+%.1f); replies_dropped %d; polite "
          "client %d/%d answered" % (rss0, peak, peak - rss0, s["replies_dropped"], answered,
                                     N // 1000))
    check(s["replies_dropped"] > 0, "no reply counted as dropped for the client that never reads")
    # Under ASan the quarantine holds freed replies, so RSS is judged in plain builds only; the
    # dropped-reply count and the polite client are checked in both.
    check(sanitized_build() or peak - rss0 < RSS_BOUND_MIB,
          "gateway RSS grew by %.1f MiB (bound %d MiB)" % (peak - rss0, RSS_BOUND_MIB))
    polite.send_multipart([b"last", b"echo", b"bye"])
    check(polite.poll(30000) and polite.recv_multipart() == [b"last", b"ok", b"bye"],
          "the polite client is not served after the flood")
print("ok: a client that never reads cannot make the gateway queue its replies without bound")
