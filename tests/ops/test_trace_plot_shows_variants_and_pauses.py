"""kfarm --trace under a real tuner run (twospeed adapter, accelerator paused then unpaused over a
real mosquitto): the trace has one line per reply with rank, kind, variant and why, and pause and
unpause events; tools/kfarm-plot draws it into a non-trivial PNG with one pause and one unpause
mark. On a made-up trace of two kinds (one never uses the accelerator), kfarm-plot marks only the
real pause and unpause (not the kind switches), starts the time axis at the first request (not the
gateway's start), keeps a 2 s first OpenCL call from stretching the log axis, and draws a panel
per kind; a missing or bad file, or a bad option, exits 2 with a message and no traceback."""
import collections
import json
import os
import random
import re
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
PLOT = os.path.join(BUILD, "tools", "kfarm-plot", "kfarm-plot")


def plot(trace_path, out, *extra):
    """Runs kfarm-plot; returns (status, stdout + stderr, the gnuplot script it used)."""
    script = out + ".gp"
    p = subprocess.run([PLOT, trace_path, "-o", out, "--script", script] + list(extra),
                       capture_output=True, text=True)
    text = open(script).read() if os.path.exists(script) else ""
    return p.returncode, p.stdout + p.stderr, text


def marks(script):
    """The pause/unpause labels the script draws, as (kind, x)."""
    out = []
    for line in script.splitlines():
        m = re.match(r"set label '(pause|unpause) r[\d,]+' at ([\d.e+-]+),", line)
        if m:
            out.append((m.group(1), float(m.group(2))))
    return sorted(out, key=lambda e: e[1])


rc, out, script = plot(trace, png)
check(rc == 0, "kfarm-plot failed: %s" % out)
w, h, colours = read_png(png)
size = os.path.getsize(png)
print("%s: %dx%d, %d bytes, %d colours; %d replies, %r, %d events"
      % (png, w, h, size, colours, len(replies), dict(seen), len(events)))
check((w, h) == (1200, 900), "PNG is %dx%d" % (w, h))
check(size > 30000, "PNG of %d bytes is too small to hold its charts" % size)
check(colours > 20, "PNG has only %d colours" % colours)
m = marks(script)
check([k for k, _ in m][:1] == ["pause"] and "unpause" in [k for k, _ in m] and
      all(k in ("pause", "unpause") for k, _ in m) and len(m) <= 4,
      "the run paused once and unpaused once; the plot marks %r" % m)

# A made-up trace: the gateway started 10 s before the first request; kinds work (accelerator,
# first call 2 s: it compiles the OpenCL kernel) and echo (CPU only: its replies say accel 0, so
# the gateway's trace writer emits an event line at every kind switch); one real pause 15-17 s.
rnd = random.Random(7)
lines = ["# kfarm trace 1 started 1795624639 (unix s) workers 2\n",
         "# time_s\trank\tkind\tvariant\twhy\taccel\tservice_us\tstatus\n"]
state = {}
first = {1: True, 2: True}
for i in range(1000):
    t = 10.0 + i * 0.01
    for rank in (1, 2):
        if rnd.random() < 0.3:
            row = ("echo", "cpu", "cpu-only", "0", 20 + rnd.random() * 5)
        else:
            paused = 15.0 <= t < 17.0
            us = 2e6 if first[rank] else (3000 if paused else 800) * (1 + 0.2 * rnd.random())
            first[rank] = False
            row = ("work",) + (("cpu", "fallback", "0") if paused else
                               ("accel", "exploiting", "1")) + (us,)
        if state.get(rank) not in (None, row[3]):  # what kf_trace_reply writes on a change
            lines.append("%.6f\t%d\t%s\t-\t-\t%s\t0\t-\n" % (
                t, rank, "accel-unpaused" if row[3] == "1" else "accel-paused", row[3]))
        state[rank] = row[3]
        lines.append("%.6f\t%d\t%s\t%s\t%s\t%s\t%.3f\tok\n" % ((t, rank) + row))
made = os.path.join(tmp, "made-up.tsv")
with open(made, "w") as f:
    f.writelines(lines)
rc, out, script = plot(made, os.path.join(tmp, "made-up.png"))
check(rc == 0, "kfarm-plot on the made-up trace: %s" % out)
m = marks(script)
check([k for k, _ in m] == ["pause", "unpause"] and abs(m[0][1] - 7.0) < 0.2 and
      abs(m[1][1] - 9.0) < 0.2,
      "want one pause at 7 s and one unpause at 9 s after the first request, got %r" % m)
xr = re.search(r"set xrange \[0:([\d.]+)\]", script)
check(xr and 11.9 < float(xr.group(1)) < 12.5,
      "the time axis does not run from the first request (10 s - 2 s) to the last: %s"
      % (xr and xr.group(0)))
check("since the first request at 2026-" in script, "no wall-clock time of the first request")
titles = re.findall(r"set title 'kind (\w+):", script)
check(sorted(titles) == ["echo", "work"], "want a panel per kind, got %r" % titles)
ranges = [float(x) for x in re.findall(r"set yrange \[[\d.e+-]+:([\d.e+-]+)\]", script)
          if x != "*"]
work_top = ranges[1]  # after the variant panel's rank range: the first kind's panel
check(work_top < 100, "the 2 s first call stretches the log axis to %g ms" % work_top)
w, h, colours = read_png(os.path.join(tmp, "made-up.png"))
check((w, h) == (1200, 1120) and colours > 20, "made-up PNG %dx%d, %d colours" % (w, h, colours))

# Errors: exit 2 with a message naming the problem, never a traceback.
bad = os.path.join(tmp, "bad.tsv")
with open(bad, "w") as f:
    f.write("not a trace\n")
for args, want in (([bad, "-o", os.path.join(tmp, "bad.png")], "kfarm --trace"),
                   ([os.path.join(tmp, "nope.tsv"), "-o", "x.png"], "No such file"),
                   ([made, "-o", "x.png", "--bin", "-1"], "--bin"),
                   ([made, "-o", "x.png", "--size", "big"], "--size"),
                   ([made, "-o", "x.png", "--no-such-option"], "--no-such-option")):
    p = subprocess.run([PLOT] + args, capture_output=True, text=True)
    check(p.returncode == 2 and want in p.stderr and "Traceback" not in p.stderr,
          "kfarm-plot %s: exit %d, %s" % (" ".join(args), p.returncode, p.stderr))
for opt, want in (("--help", "usage: kfarm-plot"), ("--version", "kfarm-plot ")):
    p = subprocess.run([PLOT, opt], capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.startswith(want), "kfarm-plot %s: %d %s"
          % (opt, p.returncode, p.stdout + p.stderr))
print("ok: trace and plot")
