"""Bind topology: 4 concurrent kfarm-client processes x 10,000 requests against 2 workers; every
reply matches its request, none lost, none duplicated, both workers used."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import CLIENT, Job, check, workers  # noqa: E402

N, CLIENTS = 10000, 4


def check_concurrent_clients(endpoint, n, clients):
    """`clients` kfarm-client processes x n requests against the job at endpoint, concurrently;
    every reply verified; the workers' counts add up. Returns requests served per worker (also
    used by tests/scale)."""
    procs = [subprocess.Popen([CLIENT, "--connect", endpoint, "-n", str(n), "--inflight", "32",
                               "--verify-echo", "--data", "client%d" % c, "--json", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in range(clients)]
    for c, p in enumerate(procs):
        out, err = p.communicate(timeout=300)
        check(p.returncode == 0, "client %d exited %d: %s%s" % (c, p.returncode, out, err))
        summary = json.loads(out)
        check(summary["count"] == n and summary["errors"] == 0 and summary["bad_replies"] == 0,
              "client %d: %r" % (c, summary))
        print("client %d: %.0f req/s, p99 %.0f us" % (c, summary["req_per_s"], summary["p99_us"]))
    served = [w["requests"] for w in workers(endpoint)]
    check(sum(served) == n * clients, "workers served %r, expected %d in all" % (served, n * clients))
    return served


if __name__ == "__main__":
    with Job(3, []) as job:
        served = check_concurrent_clients(job.endpoint, N, CLIENTS)
        check(all(s > 0 for s in served), "a worker was never used: %r" % served)
        status = job.stop()
        check(status == 0, "kfarm exited %s after SIGTERM" % status)
    print("ok: %d clients x %d requests, none lost or duplicated" % (CLIENTS, N))
