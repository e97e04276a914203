"""kfarm --trace under a real tuner run (twospeed adapter, accelerator paused then unpaused over a
real mosquitto): the trace has one line per reply with rank, kind, variant and why, and pause and
unpause events; tools/kfarm-plot draws it into a non-trivial PNG."""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)
from kfarm_harness import (BUILD, CLIENT, Job, check, publish_accel_state,  # noqa: E402
                           stand_in_bdf, start_mosquitto, stop_mosquitto, wait_until, workers)
from png_check import read_png  # noqa: E402

tmp = tempfile.mkdtemp(prefix="kfarm-ops-trace-")
mqtt_dir = os.path.join(tmp, "mqtt")
port = start_mosquitto(mqtt_dir)
bdf = stand_in_bdf()


def publish(state):
    publish_accel_state(port, bdf, state)


trace = os.path.join(tmp, "trace.tsv")
png = os.path.join(tmp, "trace.png")
try:
    publish("active")
    so = os.path.join(BUILD, "tests", "tuner", "adapters", "twospeed.so")
    with Job(3, ["--adapter", so, "--mqtt", "tcp://127.0.0.1:" + port, "--accel-bdf", bdf,
                 "--trace", trace]) as job:
        load = subprocess.Popen([CLIENT, "--connect", job.endpoint, "--kind", "work", "--data",
                                 "x", "-n", "10000000", "--duration", "6", "--inflight", "4",
                                 "--json", "--quiet", "--timeout", "60"],
                                stdout=subprocess.PIPE, text=True)
        wait_until(lambda: all(w["variant"] == "accel" for w in workers(job.endpoint)), 60,
                   "the ranks to settle on the accelerator")
        publish("paused")
        wait_until(lambda: all(w["why"] == "fallback" for w in workers(job.endpoint)), 20,
                   "the ranks to fall back to the CPU")
        time.sleep(1)
        publish("active")
        out, _ = load.communicate(timeout=120)
        check(load.returncode == 0, "load client failed: %s" % out)
        sent = json.loads(out)["count"]
        check(job.stop() == 0, "kfarm did not stop cleanly:\n" + job.output())
finally:
    stop_mosquitto(mqtt_dir)

# The trace: one line per reply, and the accelerator events of every rank.
replies, events = [], []
with open(trace) as f:
    header = [next(f), next(f)]
    for line in f:
        col = line.rstrip("\n").split("\t")
        (events if col[2].startswith("accel-") else replies).append(col)
check(header[1].startswith("# time_s\trank\tkind\tvariant\twhy"), "trace header: %r" % header)
check(len(replies) == sent, "trace has %d replies, the client got %d" % (len(replies), sent))
check({r[1] for r in replies} == {"1", "2"} and {r[2] for r in replies} == {"work"},
      "ranks/kinds in the trace: %r" % (({r[1] for r in replies}, {r[2] for r in replies}),))
seen = collections.Counter((r[3], r[4]) for r in replies)
check(seen["cpu", "fallback"] > 0 and seen["accel", "exploiting"] > 0,
      "the trace does not show both variants: %r" % seen)
kinds = collections.Counter((e[1], e[2]) for e in events)
for rank in ("1", "2"):
    check(kinds[rank, "accel-paused"] >= 1 and kinds[rank, "accel-unpaused"] >= 1,
          "rank %s pause/unpause events missing: %r" % (rank, kinds))
times = [float(r[0]) for r in replies]
check(times == sorted(times), "trace times go backwards")

# The picture.
p = subprocess.run([os.path.join(BUILD, "tools", "kfarm-plot", "kfarm-plot"), trace, "-o", png],
                   capture_output=True, text=True)
check(p.returncode == 0, "kfarm-plot failed: %s%s" % (p.stdout, p.stderr))
w, h, colours = read_png(png)
size = os.path.getsize(png)
print("%s: %dx%d, %d bytes, %d colours; %d replies, %r, %d events"
      % (png, w, h, size, colours, len(replies), dict(seen), len(events)))
check((w, h) == (1200, 900), "PNG is %dx%d" % (w, h))
check(size > 30000, "PNG of %d bytes is too small to hold three charts" % size)
check(colours > 20, "PNG has only %d colours" % colours)
# kfarm-plot refuses what is not a trace, with a message.
bad = os.path.join(tmp, "bad.tsv")
with open(bad, "w") as f:
    f.write("not a trace\n")
p = subprocess.run([os.path.join(BUILD, "tools", "kfarm-plot", "kfarm-plot"), bad, "-o",
                    os.path.join(tmp, "bad.png")], capture_output=True, text=True)
check(p.returncode != 0 and "kfarm --trace" in p.stderr, "bad input: %s" % p.stderr)
print("ok: trace and plot")
