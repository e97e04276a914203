"""Knobs reach the kernel: through a real job, the knob values a kernel receives are the ones the
tuner chose from its knowledge (a file of fixed operating points), and they change when the
knowledge changes. The knobecho test adapter replies with the values it got."""
import itertools
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, Job, check, client  # noqa: E402

so = os.path.join(BUILD, "tests", "core", "adapters", "knobecho.so")
tmp = tempfile.mkdtemp(prefix="kfarm-knobs-")


def knowledge(best):
    """ops.json for kind `knobs`: every setting of the knob space calibrated, `best` fastest."""
    ops = []
    for alpha, mode, batch in itertools.product(range(1, 10, 2), ["fast", "exact"], range(1, 5)):
        tpu = 0.001 if (alpha, mode, batch) == best else 0.01
        ops.append({"features": {"accel_available": 0},
                    "knobs": {"variant": "cpu", "alpha": alpha, "mode": mode, "batch": batch},
                    "metrics": {"time_per_unit": [tpu, 0], "time": [tpu, 0],
                                "throughput": [1 / tpu, 0]}})
    path = os.path.join(tmp, "ops-%d-%s-%d.json" % best)
    with open(path, "w") as f:
        json.dump({"knobs": ops}, f)
    return path


def replies(job, n):
    _, out, _ = client("--connect", job.endpoint, "--kind", "knobs", "--data", "hi", "-n", n,
                       "--print", "--quiet")
    lines = out.splitlines()
    check(len(lines) == n and all(" ok " in l for l in lines), "knobs replies: %r" % out)
    return [json.loads(l.split(" ", 2)[2]) for l in lines]


for best in [(7, "exact", 2), (1, "fast", 3)]:
    with Job(2, ["--adapter", so, "--knowledge", knowledge(best)]) as job:
        got = replies(job, 4)
        for r in got:
            check((r["alpha"], r["mode"], r["batch"]) == best,
                  "knowledge says %s is best, the kernel got %s" % (best, r))
        job.stop()
    print("ok: knowledge with best %s -> the kernel received %s" % (best, best))

# Without knowledge the tuner calibrates: every value it passes is in the declared domain.
with Job(2, ["--adapter", so]) as job:
    seen = set()
    for r in replies(job, 12):
        check(r["alpha"] in range(1, 10, 2) and r["mode"] in ("fast", "exact")
              and 1 <= r["batch"] <= 4, "value outside the declared domain: %s" % r)
        seen.add((r["alpha"], r["mode"], r["batch"]))
    check(len(seen) > 1, "calibration should try several settings, saw %s" % seen)
    job.stop()
print("ok: calibration passes values from the declared domain (%d settings seen)" % len(seen))
