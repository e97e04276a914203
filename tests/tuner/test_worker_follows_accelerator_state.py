"""Under real Slurm, with a real mosquitto: every worker rank's tuner follows the accelerator state
that ESFM publishes on kfarm/accel/<node>/<bdf>.
 1. ptdr (CPU variant and OpenCL variant on PoCL) under continuous load: `paused` -> every rank
    serves with the CPU variant from its next decision; no request fails. With --variant accel
    too: the fixed accelerator variant is left while paused.
 2. the twospeed test adapter (accelerator 4x faster): `paused` -> CPU everywhere; `active`
    again -> every rank goes back to the accelerator variant, because it is faster."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, CLIENT, SOURCE, Job, check, client, fail, wait_until  # noqa: E402

tmp = tempfile.mkdtemp(prefix="kfarm-tuner-slurm-")
mqtt_dir = os.path.join(tmp, "mqtt")
harness = os.path.join(SOURCE, "tests", "harness", "mosquitto")
port = subprocess.run([harness, "start", mqtt_dir], capture_output=True, text=True,
                      check=True).stdout.strip()
broker = "tcp://127.0.0.1:%s" % port
node = socket.gethostname()
# A PCI device that exists on this machine stands in for the VF: the worker checks its presence.
bdf = sorted(os.listdir("/sys/bus/pci/devices"))[0]
topic = "kfarm/accel/%s/%s" % (node, bdf)


def publish(state):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", topic, "-r",
                    "-m", json.dumps({"state": state})], check=True)


def stats(job):
    _, out, _ = client("--connect", job.endpoint, "--kind", "$stats", "--print", "--quiet")
    return json.loads(out.split(" ", 2)[2])["workers"]


def all_workers(job, pred):
    ws = stats(job)
    return all(w["requests"] > 0 and pred(w) for w in ws)


def load(job, kind, data, n, seconds):
    """Requests for `seconds`, then waits for the last replies: a summary with every request."""
    return subprocess.Popen([CLIENT, "--connect", job.endpoint, "--kind", kind, "--data", data,
                             "-n", str(n), "--duration", str(seconds), "--inflight", "6",
                             "--json", "--quiet", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, what):
    out, err = p.communicate(timeout=300)
    check(p.returncode == 0, "%s: client exited %d: %s %s" % (what, p.returncode, out, err))
    s = json.loads(out)
    check(s["errors"] == 0 and s["bad_replies"] == 0, "%s: %r" % (what, s))
    return s


try:
    publish("active")
    # --- 1. ptdr: paused -> CPU on every rank, no failed request -------------------------------
    gen = os.path.join(BUILD, "tools", "ptdr", "ptdr-gen")
    profiles = os.path.join(tmp, "profiles.json")
    subprocess.run([gen, "profiles", "--segments", "200", "-o", profiles], check=True)
    routes = subprocess.run([gen, "routes", "--segments", "200", "--requests", "1",
                             "--alternatives", "3", "--length", "20"], capture_output=True,
                            text=True, check=True).stdout.splitlines()[0]
    with Job(4, ["--adapter", "ptdr", "--adapter-arg", "profiles=" + profiles,
                 "--adapter-arg", "samples=500", "--mqtt", broker, "--accel-bdf", bdf]) as job:
        p = load(job, "monte-carlo", routes, 10000000, 8)
        wait_until(lambda: all_workers(job, lambda w: w["accel_available"]), 60,
                   "every rank to see the accelerator as active")
        publish("paused")
        wait_until(lambda: all_workers(job, lambda w: not w["accel_available"]
                                       and w["variant"] == "cpu" and w["why"] == "fallback"),
                   20, "every rank to fall back to the CPU variant")
        for _ in range(10):  # and it stays so
            check(all_workers(job, lambda w: w["variant"] == "cpu"), "a rank ran accel while paused")
            time.sleep(0.1)
        publish("active")
        wait_until(lambda: all_workers(job, lambda w: w["accel_available"]), 20,
                   "every rank to see the accelerator back")
        s = finish(p, "ptdr load")
        job.stop()
        print("ptdr: %d requests under pause/unpause, 0 errors" % s["count"])

    # --- 1b. --variant accel: a paused accelerator is not used either (CPU while paused) ------
    with Job(3, ["--adapter", "ptdr", "--adapter-arg", "profiles=" + profiles,
                 "--adapter-arg", "samples=500", "--mqtt", broker, "--accel-bdf", bdf,
                 "--variant", "accel"]) as job:
        p = load(job, "monte-carlo", routes, 10000000, 8)
        wait_until(lambda: all_workers(job, lambda w: w["variant"] == "accel"
                                       and w["why"] == "fixed"), 60,
                   "every rank to serve with the fixed accelerator variant")
        publish("paused")
        wait_until(lambda: all_workers(job, lambda w: not w["accel_available"]
                                       and w["variant"] == "cpu" and w["why"] == "fallback"),
                   20, "every --variant accel rank to fall back to the CPU variant")
        publish("active")
        wait_until(lambda: all_workers(job, lambda w: w["variant"] == "accel"), 20,
                   "every --variant accel rank to use the accelerator again")
        s = finish(p, "ptdr --variant accel load")
        job.stop()
        print("ptdr --variant accel: %d requests, CPU while paused, 0 errors" % s["count"])

    # --- 2. twospeed: the accelerator is faster, so it comes back after `active` ---------------
    so = os.path.join(BUILD, "tests", "tuner", "adapters", "twospeed.so")
    with Job(4, ["--adapter", so, "--mqtt", broker, "--accel-bdf", bdf]) as job:
        p = load(job, "work", "x", 10000000, 12)
        wait_until(lambda: all_workers(job, lambda w: w["variant"] == "accel"
                                       and w["why"] == "exploiting"), 60,
                   "every rank to settle on the faster accelerator variant")
        publish("paused")
        wait_until(lambda: all_workers(job, lambda w: w["variant"] == "cpu"
                                       and w["why"] == "fallback"), 20,
                   "every rank to fall back to the CPU variant")
        publish("active")
        wait_until(lambda: all_workers(job, lambda w: w["variant"] == "accel"
                                       and w["why"] == "exploiting"), 60,
                   "every rank to return to the faster accelerator variant")
        s = finish(p, "twospeed load")
        job.stop()
        print("twospeed: %d requests, accelerator chosen, dropped and chosen again, 0 errors"
              % s["count"])
finally:
    subprocess.run([harness, "stop", mqtt_dir])
print("ok: worker tuners follow the accelerator state")
