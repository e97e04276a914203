"""kfarm-client --stats prints a per-rank table whose counts equal the requests sent, plus the
per-client table while requests are in flight; --watch --count N prints N refreshed frames;
--stats --json prints the gateway's $stats as one JSON line with the same counts."""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from kfarm_harness import CLIENT, Job, check, client  # noqa: E402


def rows(table):
    """{rank: (requests, errors, variant, why)} from the RANK section."""
    out = {}
    for line in table.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\S+\s+[\d.]+\s+[\d.]+\s+(\S+)\s+(\S+)", line)
        if m:
            out[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), m.group(4), m.group(5))
    return out


with Job(3, []) as job:
    client("--connect", job.endpoint, "-n", 300, "--inflight", 8, "--quiet")
    client("--connect", job.endpoint, "--kind", "fail", "-n", 2, "--quiet", check_status=False)
    _, out, _ = client("--connect", job.endpoint, "--stats")
    print(out)
    check("RANK" in out and "REQUESTS" in out, "no table header:\n" + out)
    r = rows(out)
    check(sorted(r) == [1, 2], "ranks in the table: %r" % sorted(r))
    check(sum(v[0] for v in r.values()) == 302 and sum(v[1] for v in r.values()) == 2,
          "table counts %r, sent 302 requests of which 2 failing" % r)
    check(all(v[2] == "cpu" and v[3] == "cpu-only" for v in r.values()), "variant/why: %r" % r)
    check(re.search(r"up [\d.]+ s, 302 requests", out), "summary line wrong:\n" + out)
    _, out, _ = client("--connect", job.endpoint, "--stats", "--json")
    try:
        js = json.loads(out)
    except ValueError as e:
        js = None
        check(False, "--stats --json is not JSON (%s):\n%s" % (e, out))
    w = {x["rank"]: x for x in js["workers"]}
    check(sorted(w) == [1, 2] and sum(x["requests"] for x in w.values()) == 302,
          "--stats --json workers %r, sent 302 requests" % w)

    # --watch under load: frames are refreshed, with a rate, and the load client is listed.
    load = subprocess.Popen([CLIENT, "--connect", job.endpoint, "--kind", "sleep",
                             "--data", '{"ms": 20}', "-n", "150", "--inflight", "6", "--quiet"])
    _, out, _ = client("--connect", job.endpoint, "--watch", "--count", 3, "--interval", 0.5,
                       timeout=30)
    load.wait(60)
    check(load.returncode == 0, "the load client failed")
    frames = out.count("RANK")
    check(frames == 3, "--watch --count 3 printed %d frames:\n%s" % (frames, out))
    check(re.search(r"^\s*1\s+\d+\s+\d+\s+\d+\s+\d+\s", out.split("RANK")[-1], re.M),
          "no req/s figure in a later frame:\n" + out)
    check("CLIENT" in out, "the in-flight client was never listed:\n" + out)
    # A job that is not there: an error, not a hang.
    st, _, err = client("--connect", "tcp://127.0.0.1:1", "--stats", "--timeout", "1",
                        check_status=False)
    check(st != 0 and "did not answer" in err, "--stats without a job: %d %s" % (st, err))
    check(job.stop() == 0, "kfarm did not stop cleanly")
print("ok: --stats and --watch")
