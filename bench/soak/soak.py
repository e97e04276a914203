#!/usr/bin/python3
"""Soak of a running kfarm job (bind mode, echo adapter): C clients x DEALER sockets send random
payloads (0 B .. --max-bytes, log-uniform sizes: most are small, some reach the maximum), keep up
to --window requests in flight each, disconnect and reconnect at random, and interleave
broadcasts (PUB socket and `$broadcast:set-state` on the request socket).

Checked: every request sent on a connection that stays open is answered exactly once with its
own payload (none lost, none duplicated, none sent to another client); the RSS of every kfarm
process after warm-up stays within 5% of its warm-up value; no process gains file descriptors.
Prints one JSON summary line; exit status 1 on a violation.

Usage: soak.py ENDPOINT BROADCAST_ENDPOINT [--requests N] [--seconds S] [--clients C] ...
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
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


class Client(threading.Thread):
    def __init__(self, ctx, idx, args, budget, stop, errors):
        super().__init__(daemon=True)
        self.ctx, self.idx, self.a, self.budget, self.stop, self.errors = ctx, idx, args, budget, stop, errors
        self.rng = random.Random(args.seed * 1000 + idx)
        self.sent = self.answered = self.abandoned = self.reconnects = self.bytes = 0
        self.broadcasts = 0

    def fail(self, msg):
        self.errors.append("client %d: %s" % (self.idx, msg))
        self.stop.set()

    def payload(self):
        # log-uniform size in [0, max]: a uniform mix would move ~0.5 TB for 10^6 requests
        n = int(2 ** self.rng.uniform(0, self.a.max_bytes.bit_length())) - 1
        n = min(n, self.a.max_bytes)
        return os.urandom(min(n, 64)) * (n // 64) + os.urandom(n % 64) if n else b""

    def connect(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.a.endpoint)
        return s

    def run(self):
        gen = 0
        sock = self.connect()
        pending = {}  # id -> payload
        seen = set()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while not self.stop.is_set():
            # random disconnect: abandon what is in flight (it may be lost; that is allowed)
            if self.rng.random() < self.a.disconnect_prob:
                poller.unregister(sock)
                sock.close(linger=0)
                self.abandoned += len(pending)
                pending.clear()
                seen.clear()
                gen += 1
                self.reconnects += 1
                sock = self.connect()
                poller.register(sock, zmq.POLLIN)
            while len(pending) < self.a.window and self.budget.take():
                rid = b"%d-%d-%d" % (self.idx, gen, self.sent)
                if self.rng.random() < self.a.broadcast_prob:
                    kind, data = b"$broadcast:set-state", b"c%d-%d" % (self.idx, self.sent)
                    self.broadcasts += 1
                else:
                    kind, data = b"echo", self.payload()
                pending[rid] = (kind, data)
                sock.send_multipart([rid, kind, data], copy=False)
                self.sent += 1
                self.bytes += len(data)
            if not pending:
                if self.budget.empty():
                    break
                continue
            if not poller.poll(self.a.reply_timeout * 1000):
                self.fail("no reply within %d s; %d in flight (e.g. %r)" %
                          (self.a.reply_timeout, len(pending), next(iter(pending))))
                break
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                msg = sock.recv_multipart()
                rid = msg[0]
                if rid in seen:
                    self.fail("request %r answered twice" % rid)
                    return
                if rid not in pending:
                    self.fail("reply to a request this connection did not send: %r" % rid)
                    return
                kind, data = pending.pop(rid)
                seen.add(rid)
                if len(msg) != 3 or msg[1] != b"ok":
                    self.fail("request %r (%s) failed: %r" % (rid, kind, msg[1:2]))
                    return
                expect = b"" if kind.startswith(b"$broadcast") else data
                if msg[2] != expect:
                    self.fail("request %r: reply payload differs (%d vs %d bytes)" %
                              (rid, len(msg[2]), len(expect)))
                    return
                self.answered += 1
        sock.close(linger=0)
        self.abandoned += len(pending)


class Budget:
    def __init__(self, n, deadline):
        self.n, self.deadline, self.lock = n, deadline, threading.Lock()

    def take(self):
        with self.lock:
            if self.n <= 0 or time.monotonic() > self.deadline:
                self.n = 0
                return False
            self.n -= 1
            return True

    def empty(self):
        with self.lock:
            return self.n <= 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("broadcast_endpoint")
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=1e9, help="stop sending after this long")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--max-bytes", type=int, default=1 << 20)
    ap.add_argument("--disconnect-prob", type=float, default=0.0005)
    ap.add_argument("--broadcast-prob", type=float, default=0.01)
    ap.add_argument("--reply-timeout", type=int, default=30)
    ap.add_argument("--warmup", type=float, default=0.3, help="fraction of the run")
    ap.add_argument("--rss-tolerance", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--job-name", help="Slurm job name of the kfarm job (its ranks are watched)")
    a = ap.parse_args()

    ctx = zmq.Context()
    stop, errors = threading.Event(), []
    t0 = time.monotonic()
    budget = Budget(a.requests, t0 + a.seconds)
    clients = [Client(ctx, i, a, budget, stop, errors) for i in range(a.clients)]
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(a.broadcast_endpoint)
    for c in clients:
        c.start()

    pids = kfarm_pids(a.job_name)
    if not pids:
        errors.append("no kfarm process of job %s found to watch" % a.job_name)
    samples = []  # (t, {pid: (rss, fds)})
    pub_sent = 0
    while any(c.is_alive() for c in clients):
        time.sleep(0.5)
        pub.send_multipart([b"set-state", b"pub-%d" % pub_sent])
        pub_sent += 1
        samples.append((time.monotonic() - t0, {p: (rss_kib(p), fd_count(p)) for p in pids}))
    elapsed = time.monotonic() - t0
    pub.close(linger=0)

    sent = sum(c.sent for c in clients)
    answered = sum(c.answered for c in clients)
    summary = {"clients": a.clients, "requests": sent, "answered": answered,
               "abandoned_on_disconnect": sum(c.abandoned for c in clients),
               "reconnects": sum(c.reconnects for c in clients),
               "request_broadcasts": sum(c.broadcasts for c in clients), "pub_broadcasts": pub_sent,
               "payload_mib": round(sum(c.bytes for c in clients) / 2 ** 20, 1),
               "seconds": round(elapsed, 1), "req_per_s": round(answered / elapsed, 1)}

    # resources: warm-up = the first `warmup` of the run; RSS: medians of warm-up and of the last
    # quarter (the gateway's RSS swings by several MiB with which 1 MiB messages are in flight, so
    # peaks are noise; a leak moves the median)
    warm = [s for t, s in samples if t <= elapsed * a.warmup]
    late = [s for t, s in samples if t >= elapsed * 0.75]
    procs = []
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
            # about 20 points of the RSS over the run, to tell a trend from allocator noise
            step = max(1, len(samples) // 20)
            series = [s[p][0] for _, s in samples[::step]]
            procs.append({"pid": p, "rss_warm_kib": wr, "rss_end_kib": lr, "fds_warm_max": wf,
                          "fds_end_min": lf, "rss_series_kib": series})
            if lr > wr * (1 + a.rss_tolerance):
                errors.append("kfarm pid %d: median RSS grew from %d to %d KiB after warm-up" % (p, wr, lr))
            if lf > wf:
                errors.append("kfarm pid %d: fds grew from %d to %d" % (p, wf, lf))
    else:
        errors.append("run too short to compare resources (%d samples)" % len(samples))
    summary["processes"] = procs
    summary["errors"] = errors
    print(json.dumps(summary), flush=True)
    ctx.term()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
