"""kfarm --metrics-listen: Prometheus text fetched with curl while requests are running shows the
per-client and per-rank in-flight counts, and afterwards counters equal what the test sent; the
gateway with its metrics thread stays idle (no spinning) between scrapes."""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from kfarm_harness import Job, check, client, cpu_seconds, kfarm_processes, wait_until  # noqa: E402
from kfarm import Client  # noqa: E402


def scrape(port, path="/metrics"):
    p = subprocess.run(["curl", "-sS", "--max-time", "5", "-D", "-",
                        "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 0, "curl %s failed: %s" % (path, p.stderr))
    head, _, body = p.stdout.partition("\n\n")  # text mode turned \r\n into \n
    return head, body


def samples(text):
    """{'name{labels}': value} of every sample line; fails on a line that is not exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = re.fullmatch(r'([a-z_]+(?:\{[^}]*\})?) (\S+)', line)
        check(m is not None, "not Prometheus text exposition: %r" % line)
        out[m.group(1)] = float(m.group(2))
    return out


def metrics_url(endpoint_file):
    with open(endpoint_file) as f:
        for line in f:
            if line.startswith("KFARM_METRICS_URL="):
                return line.strip().split("=", 1)[1]
    check(False, "no KFARM_METRICS_URL= line in the endpoint file " + endpoint_file)


N_OK, N_FAIL, N_SLOW = 500, 3, 4
# Port 0: the gateway picks a free port and publishes it in the endpoint file, where a scraper
# (and this test) finds it.
with Job(3, ["--metrics-listen", "127.0.0.1:0"]) as job:
    url = metrics_url(job.endpoint_file)
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/metrics", url)
    check(m is not None and int(m.group(1)) > 0, "unexpected KFARM_METRICS_URL %r" % url)
    port = int(m.group(1))
    head, body = scrape(port)
    check(" 200 " in head.splitlines()[0] and "text/plain; version=0.0.4" in head,
          "unexpected response head:\n" + head)
    s = samples(body)
    check(s.get("kfarm_requests_total") == 0, "requests before any were sent: %r" % s)

    # During a run: 4 slow requests from one client are in flight (2 workers x 4 slots).
    # check=False: no $info round trip, so the counts below are exactly the requests sent.
    slow = Client.connect(job.endpoint, settle=0, check=False)
    slow_replies = [slow.submit("sleep", {"ms": 3000}) for _ in range(N_SLOW)]

    def in_flight():
        m = samples(scrape(port)[1])
        per_client = [v for k, v in m.items() if k.startswith("kfarm_client_inflight{")]
        per_rank = sum(v for k, v in m.items() if k.startswith("kfarm_worker_inflight{"))
        return per_client == [N_SLOW] and per_rank == N_SLOW
    wait_until(in_flight, 10, "metrics showing %d requests in flight from one client" % N_SLOW)
    for f in slow_replies:
        check(f.result(10) == b'{"ms": 3000}', "a slow request was not answered")
    slow.close()

    client("--connect", job.endpoint, "-n", N_OK, "--inflight", 16, "--quiet")
    client("--connect", job.endpoint, "--kind", "fail", "-n", N_FAIL, "--quiet", check_status=False)
    client("--connect", job.endpoint, "--ordered", "--broadcast", "set-state", '"a"',
           "--broadcast", "set-state", '"b"', "-n", 0, "--quiet")
    time.sleep(0.15)  # older than the 100 ms refresh bound, so this scrape asks for a new one
    s = samples(scrape(port)[1])
    sent = N_SLOW + N_OK + N_FAIL
    check(s["kfarm_requests_total"] == sent,
          "kfarm_requests_total %s, sent %d" % (s["kfarm_requests_total"], sent))
    per_rank = [s['kfarm_worker_requests_total{rank="%d"}' % r] for r in (1, 2)]
    check(sum(per_rank) == sent, "per-rank requests %r, sent %d" % (per_rank, sent))
    errors = sum(s['kfarm_worker_errors_total{rank="%d"}' % r] for r in (1, 2))
    check(errors == N_FAIL, "worker errors %s, sent %d failing requests" % (errors, N_FAIL))
    check(s["kfarm_broadcasts_total"] == 2, "broadcasts %s, sent 2" % s["kfarm_broadcasts_total"])
    check(not any(k.startswith("kfarm_client_inflight{") for k in s),
          "a client still has requests in flight after all replies")
    check(s['kfarm_worker_variant_info{rank="1",variant="cpu",why="cpu-only"}'] == 1,
          "variant info missing: %r" % s)
    _, js = scrape(port, "/stats")
    check('"workers"' in js and '"clients"' in js, "/stats is not the $stats JSON: " + js)

    # Idle: scrapes every 0.2 s; the whole job uses well under one core.
    pids = kfarm_processes()
    t0, c0 = time.monotonic(), sum(map(cpu_seconds, pids))
    for _ in range(10):
        scrape(port)
        time.sleep(0.2)
    busy = (sum(map(cpu_seconds, pids)) - c0) / (time.monotonic() - t0)
    print("idle job CPU while scraped: %.1f%% of a core (%d ranks)" % (busy * 100, len(pids)))
    check(busy < 0.25, "the idle job uses %.0f%% of a core: something spins" % (busy * 100))
    check(job.stop() == 0, "kfarm did not stop cleanly:\n" + job.output())
print("ok: metrics match what was sent")
