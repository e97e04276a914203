"""Knobs reach the kernel: through a real job, the knob values a kernel receives are the ones the
tuner chose from its knowledge (a file of fixed operating points), and they change when the
knowledge changes. Batching: requests queued while the worker is busy are run through the
kernel's batch entry point, at most `batch` (the knob) per call, each reply to its own id, and a
bad request in a batch fails alone. The knobecho test adapter replies with what it got."""
import itertools
import json
import os
import sys
import tempfile

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, Job, check, client  # noqa: E402

so = os.path.join(BUILD, "tests", "mpi_worker", "adapters", "knobecho.so")
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
    # $info lists the kernel's declared knobs with their domains and defaults.
    _, out, _ = client("--connect", job.endpoint, "--kind", "$info", "-n", 1, "--print", "--quiet")
    info = json.loads(out.split(" ", 2)[2])
    knobs = {k["kind"]: k["knobs"] for k in info["kinds"]}["knobs"]
    check([k["name"] for k in knobs] == ["alpha", "mode", "batch"]
          and (knobs[0]["min"], knobs[0]["max"], knobs[0]["step"], knobs[0]["default"]) == (1, 9, 2, 3)
          and knobs[1]["labels"] == ["fast", "exact"], "$info knobs: %r" % knobs)
    seen = set()
    for r in replies(job, 12):
        check(r["alpha"] in range(1, 10, 2) and r["mode"] in ("fast", "exact")
              and 1 <= r["batch"] <= 4, "value outside the declared domain: %s" % r)
        seen.add((r["alpha"], r["mode"], r["batch"]))
    check(len(seen) > 1, "calibration should try several settings, saw %s" % seen)
    job.stop()
print("ok: calibration passes values from the declared domain (%d settings seen)" % len(seen))

# Batching: a sleep request keeps the only worker busy while 12 knobs requests queue behind it.
BATCH = 4
with Job(2, ["--adapter", "echo", "--adapter", so,
             "--knowledge", knowledge((5, "fast", BATCH))]) as job:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.connect(job.endpoint)
    s.send_multipart([b"sleep", b"sleep", b'{"ms": 500}'])
    payloads = {str(i).encode(): (b"bad" if i == 5 else b"r%d" % i) for i in range(12)}
    for rid, p in payloads.items():
        s.send_multipart([rid, b"knobs", p])
    got = {}
    for _ in range(13):
        frames = s.recv_multipart()
        got[frames[0]] = frames[1:]
    check(got.pop(b"sleep", None) is not None, "no reply to the sleep request")
    s.send_multipart([b"c", b"launches", b""])
    frames = s.recv_multipart()
    counts = json.loads(frames[2])
    # 12 requests: with at most BATCH per call and all of them queued, at least 3 calls of which
    # some are batches; every request ran exactly once.
    check(counts["batches"] >= 1, "no batch call: %s" % counts)
    check(counts["batched"] + counts["single"] == 12, "requests run: %s" % counts)
    check(counts["batches"] + counts["single"] >= 3, "more than %d per call: %s" % (BATCH, counts))
    sizes = []
    for rid, p in payloads.items():
        r = got.get(rid)
        if p == b"bad":
            check(r is not None and len(r) == 1 and b"bad request" in r[0],
                  "the bad request should fail alone: %r" % r)
            continue
        check(r is not None and r[0] == b"ok", "request %s: %r" % (rid, r))
        body = json.loads(r[1])
        check(body["p"] == p.decode(), "reply to id %s carries payload %s" % (rid, body["p"]))
        check(body["batch"] == BATCH, "batch knob %s, expected %d" % (body["batch"], BATCH))
        check(1 <= body["n"] <= BATCH, "a call held %d requests, batch is %d" % (body["n"], BATCH))
        sizes.append(body["n"])
    check(max(sizes) > 1, "no reply came from a batch call: sizes %s" % sizes)
    print("ok: 12 queued requests in %d batch calls + %d single (sizes %s), bad one failed alone"
          % (counts["batches"], counts["single"], sorted(sizes)))
    job.stop()
