#!/usr/bin/python3
"""Soak of a running kfarm job (bind mode, echo adapter): C clients x DEALER sockets send random
payloads (0 B .. --max-bytes, log-uniform sizes: most are small, some reach the maximum), keep up
to --window requests in flight each, disconnect and reconnect at random, and interleave
broadcasts (PUB socket and `$broadcast:set-state` on the request socket).

Checked: every request sent on a connection that stays open is answered exactly once with its
own payload (none lost, none duplicated, none sent to another client); the median RSS of every
kfarm process late in the run stays within 5% of its warm-up median; no process gains file
descriptors. Prints one JSON summary line; exit status 1 on a violation.

The C logical clients run in --procs processes (default 2, one per core here), each a
single-threaded event loop over its clients' sockets: no GIL shared between clients. Payloads are
zero-copy slices at random offsets of one random pool per process, sent with copy=False, and
replies are compared in place (bytes.startswith on the received frame: one memcmp, no copy), so
the harness costs little next to the echo path it drives. A slice at a random offset of 2 MiB of
random bytes is, like a freshly drawn payload, different from every other payload in flight.

Usage: soak.py ENDPOINT BROADCAST_ENDPOINT [--requests N] [--seconds S] [--clients C] ...
"""
import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time

import zmq


def kfarm_pids(job_name):
    """The ranks of this job: kfarm processes whose SLURM_JOB_NAME is job_name (other jobs may
    run kfarm on the same machine)."""
    p = subprocess.run(["pgrep", "-x", "kfarm"], capture_output=True, text=True)
    pids = []
    for x in p.stdout.split():
        try:
            with open("/proc/%s/environ" % x, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if job_name is None or b"SLURM_JOB_NAME=" + job_name.encode() in env:
            pids.append(int(x))
    return sorted(pids)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Client:
    """One logical client: a DEALER connection (replaced on a random disconnect), the requests it
    has in flight, and its share of the request budget."""

    COUNTERS = ("sent", "answered", "abandoned", "reconnects", "broadcasts", "bytes",
                "duplicates", "lost", "foreign", "wrong_payload")

    def __init__(self, proc, idx, budget):
        self.p, self.a, self.idx, self.budget = proc, proc.a, idx, budget
        self.rng = random.Random(self.a.seed * 1000 + idx)
        for k in self.COUNTERS:
            setattr(self, k, 0)
        self.gen = 0
        self.sock = None
        self.pending = {}  # request id -> (kind, pool offset, size)
        self.seen = set()  # ids answered on this connection
        self.last_progress = time.monotonic()
        self.connect()

    def connect(self):
        s = self.p.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.a.endpoint)
        self.sock = s
        self.p.register(self)

    def reconnect(self):
        # what is in flight may be lost or answered to the closed connection: that is allowed
        self.p.unregister(self)
        self.sock.close(linger=0)
        self.abandoned += len(self.pending)
        self.pending.clear()
        self.seen.clear()
        self.gen += 1
        self.reconnects += 1
        self.connect()

    def size(self):
        # log-uniform size in [0, max]: a uniform mix would move ~0.5 TB for 10^6 requests
        n = int(2 ** self.rng.uniform(0, self.a.max_bytes.bit_length())) - 1
        return min(n, self.a.max_bytes)

    def fill(self):
        while len(self.pending) < self.a.window and self.budget > 0 and not self.p.past_deadline:
            if self.rng.random() < self.a.disconnect_prob:
                self.reconnect()
            self.budget -= 1
            if not self.pending:  # the reply timeout runs from here while nothing is answered
                self.last_progress = time.monotonic()
            rid = b"%d-%d-%d" % (self.idx, self.gen, self.sent)
            if self.rng.random() < self.a.broadcast_prob:
                data = b"c%d-%d" % (self.idx, self.sent)
                self.pending[rid] = (b"$broadcast:set-state", 0, 0)
                self.sock.send_multipart([rid, b"$broadcast:set-state", data])
                self.broadcasts += 1
                n = len(data)
            else:
                n = self.size()
                off = self.rng.randrange(len(self.p.pool) - n + 1)
                self.pending[rid] = (b"echo", off, n)
                # zero-copy: libzmq sends from the pool (immutable bytes) itself
                self.sock.send_multipart([rid, b"echo", self.p.pool_view[off:off + n]],
                                         copy=False)
            self.sent += 1
            self.bytes += n

    def drain(self):
        while True:
            try:
                msg = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return True
            self.last_progress = time.monotonic()
            rid = msg[0].bytes
            if rid in self.seen:
                self.duplicates += 1
                return self.p.fail("client %d: request %r answered twice" % (self.idx, rid))
            if rid not in self.pending:
                self.foreign += 1
                return self.p.fail("client %d: reply to a request this connection did not "
                                   "send: %r" % (self.idx, rid))
            kind, off, n = self.pending.pop(rid)
            self.seen.add(rid)
            if len(msg) != 3 or msg[1].bytes != b"ok":
                return self.p.fail("client %d: request %r (%s) failed: %r" %
                                   (self.idx, rid, kind, msg[1].bytes[:200]))
            got = msg[2].buffer
            if kind == b"echo":
                same = len(got) == n and self.p.pool.startswith(got, off)
            else:
                same = len(got) == 0
            if not same:
                self.wrong_payload += 1
                return self.p.fail("client %d: request %r: reply payload differs (%d vs %d "
                                   "bytes)" % (self.idx, rid, len(got), n))
            self.answered += 1

    def done(self):
        return not self.pending and (self.budget <= 0 or self.p.past_deadline)

    def close(self):
        self.abandoned += len(self.pending)  # only after a failure elsewhere stopped the run
        self.p.unregister(self)
        self.sock.close(linger=0)


class ClientProcess:
    """The event loop of one process: its clients' sockets in one poller."""

    def __init__(self, a, idxs, budgets, deadline, stop):
        self.a, self.deadline, self.stop = a, deadline, stop
        self.errors = []
        self.past_deadline = False
        rng = random.Random(a.seed * 7919 + idxs[0])
        self.pool = rng.randbytes(a.max_bytes + (1 << 20))
        self.pool_view = memoryview(self.pool)
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.by_sock = {}
        self.clients = [Client(self, i, b) for i, b in zip(idxs, budgets)]

    def register(self, c):
        self.poller.register(c.sock, zmq.POLLIN)
        self.by_sock[c.sock] = c

    def unregister(self, c):
        self.poller.unregister(c.sock)
        del self.by_sock[c.sock]

    def fail(self, msg):
        self.errors.append(msg)
        self.stop.set()
        return False

    def run(self):
        active = list(self.clients)
        while active and not self.stop.is_set():
            now = time.monotonic()
            self.past_deadline = now > self.deadline
            for c in active:
                c.fill()
                if c.pending and now - c.last_progress > self.a.reply_timeout:
                    c.lost += len(c.pending)
                    self.fail("client %d: no reply within %d s; %d in flight (e.g. %r)" %
                              (c.idx, self.a.reply_timeout, len(c.pending), next(iter(c.pending))))
            active = [c for c in active if not c.done()]
            for sock, _ in self.poller.poll(200):
                if not self.by_sock[sock].drain():
                    break
        for c in self.clients:
            c.close()
        self.ctx.term()
        return {"errors": self.errors,
                "clients": [{k: getattr(c, k) for k in Client.COUNTERS} for c in self.clients]}


def client_process_main(a, idxs, budgets, deadline, stop, results):
    try:
        out = ClientProcess(a, idxs, budgets, deadline, stop).run()
    except Exception as e:  # report, never hang the parent
        out = {"errors": ["client process %r: %r" % (idxs, e)], "clients": []}
        stop.set()
    results.put(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("broadcast_endpoint")
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=1e9, help="stop sending after this long")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2, help="processes the clients are spread over")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--max-bytes", type=int, default=1 << 20)
    ap.add_argument("--disconnect-prob", type=float, default=0.0005, help="per request sent")
    ap.add_argument("--broadcast-prob", type=float, default=0.01)
    ap.add_argument("--reply-timeout", type=int, default=30)
    ap.add_argument("--warmup", type=float, default=0.3, help="fraction of the run")
    ap.add_argument("--rss-tolerance", type=float, default=0.05)
    ap.add_argument("--rss-slack-kib", type=int, default=0,
                    help="also allowed on top of --rss-tolerance (short runs, see "
                         "tests/security/test_soak_smoke.py)")
    ap.add_argument("--no-rss-check", action="store_true",
                    help="report RSS but do not judge it (sanitizer builds: ASan's quarantine "
                         "keeps up to 256 MB of freed memory per process)")
    ap.add_argument("--sample-interval", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--job-name", help="Slurm job name of the kfarm job (its ranks are watched)")
    a = ap.parse_args()

    errors = []
    pids = kfarm_pids(a.job_name)
    if not pids:
        errors.append("no kfarm process of job %s found to watch" % a.job_name)

    # the budget split evenly over the clients; the client processes are forked before this
    # process makes its own zmq context (a context must not cross a fork)
    mp = multiprocessing.get_context("fork")
    stop, results = mp.Event(), mp.Queue()
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    budgets = [a.requests // a.clients + (1 if i < a.requests % a.clients else 0)
               for i in range(a.clients)]
    procs = []
    nprocs = max(1, min(a.procs, a.clients))
    for k in range(nprocs):
        idxs = list(range(k, a.clients, nprocs))
        p = mp.Process(target=client_process_main,
                       args=(a, idxs, [budgets[i] for i in idxs], deadline, stop, results),
                       daemon=True)
        p.start()
        procs.append(p)

    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(a.broadcast_endpoint)
    samples = []  # (t, {pid: (rss, fds)})
    pub_sent = 0
    outs = []
    while len(outs) < nprocs:
        try:
            outs.append(results.get(timeout=a.sample_interval))
            continue
        except Exception:  # queue.Empty: nothing finished in this interval
            pass
        if not any(p.is_alive() for p in procs) and results.empty():
            errors.append("a client process died without a report")
            break
        pub.send_multipart([b"set-state", b"pub-%d" % pub_sent])
        pub_sent += 1
        samples.append((time.monotonic() - t0, {p: (rss_kib(p), fd_count(p)) for p in pids}))
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join(10)
    pub.close(linger=0)
    ctx.term()

    cs = [c for o in outs for c in o["clients"]]
    for o in outs:
        errors.extend(o["errors"])
    tot = {k: sum(c[k] for c in cs) for k in Client.COUNTERS}
    summary = {"clients": a.clients, "procs": nprocs, "requests": tot["sent"],
               "answered": tot["answered"], "abandoned_on_disconnect": tot["abandoned"],
               "duplicates": tot["duplicates"], "lost": tot["lost"],
               "foreign_replies": tot["foreign"], "wrong_payloads": tot["wrong_payload"],
               "reconnects": tot["reconnects"], "request_broadcasts": tot["broadcasts"],
               "pub_broadcasts": pub_sent, "payload_mib": round(tot["bytes"] / 2 ** 20, 1),
               "seconds": round(elapsed, 1), "req_per_s": round(tot["answered"] / elapsed, 1)}
    if tot["answered"] + tot["abandoned"] != tot["sent"] and not errors:
        errors.append("%d requests neither answered nor abandoned" %
                      (tot["sent"] - tot["answered"] - tot["abandoned"]))

    # resources: warm-up = the first `warmup` of the run; RSS: medians of warm-up and of the last
    # quarter (the RSS swings by several MiB with which 1 MiB messages are in flight, so peaks
    # are noise; a leak moves the median)
    warm = [s for t, s in samples if t <= elapsed * a.warmup]
    late = [s for t, s in samples if t >= elapsed * 0.75]
    procs_out = []
    if warm and late:
        for p in pids:
            if any(s[p][0] is None for s in late):
                errors.append("kfarm pid %d exited during the soak" % p)
                continue
            wr = statistics.median((s[p][0] or 0) for s in warm)
            lr = statistics.median((s[p][0] or 0) for s in late)
            wf = max((s[p][1] or 0) for s in warm)
            # connections of reconnecting clients come and go: a leak raises even the fewest
            # fds seen late in the run above the most seen during warm-up
            lf = min((s[p][1] or 0) for s in late)
            allr = [s[p][0] for _, s in samples if s[p][0] is not None]
            # about 20 points of the RSS over the run, to tell a trend from allocator noise
            step = max(1, len(samples) // 20)
            series = [s[p][0] for _, s in samples[::step]]
            procs_out.append({"pid": p, "rss_warm_kib": wr, "rss_end_kib": lr,
                              "rss_min_kib": min(allr), "rss_max_kib": max(allr),
                              "fds_warm_max": wf, "fds_end_min": lf, "rss_series_kib": series})
            if not a.no_rss_check and lr > wr * (1 + a.rss_tolerance) + a.rss_slack_kib:
                errors.append("kfarm pid %d: median RSS grew from %d to %d KiB after warm-up" %
                              (p, wr, lr))
            if lf > wf:
                errors.append("kfarm pid %d: fds grew from %d to %d" % (p, wf, lf))
    else:
        errors.append("run too short to compare resources (%d samples)" % len(samples))
    summary["samples"] = len(samples)
    summary["rss_checked"] = not a.no_rss_check
    summary["processes"] = procs_out
    summary["errors"] = errors
    print(json.dumps(summary), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
