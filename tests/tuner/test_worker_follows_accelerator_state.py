"""Under real Slurm, with a real mosquitto: every worker rank's tuner follows the accelerator state
that ESFM publishes on kfarm/accel/<node>/<bdf>.
 1. ptdr (CPU variant and OpenCL variant on PoCL) under continuous load: `paused` -> every rank
    serves with the CPU variant from its next decision; no request fails. With --variant accel
    too: the fixed accelerator variant is left while paused.
 2. the twospeed test adapter (accelerator 4x faster): `paused` -> CPU everywhere; `active`
    again -> every rank goes back to the accelerator variant, because it is faster."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import (BUILD, Job, all_workers, check, load_summary,  # noqa: E402
                           publish_accel_state, stand_in_bdf, start_load, start_mosquitto,
                           stop_mosquitto, wait_until)

tmp = tempfile.mkdtemp(prefix="kfarm-tuner-slurm-")
mqtt_dir = os.path.join(tmp, "mqtt")
port = start_mosquitto(mqtt_dir)
broker = "tcp://127.0.0.1:%s" % port
bdf = stand_in_bdf()


def publish(state):
    publish_accel_state(port, bdf, state)


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
        p = start_load(job.endpoint, 8, "monte-carlo", routes)
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["accel_available"]), 60,
                   "every rank to see the accelerator as active")
        publish("paused")
        wait_until(lambda: all_workers(job.endpoint, lambda w: not w["accel_available"]
                                       and w["variant"] == "cpu" and w["why"] == "fallback"),
                   20, "every rank to fall back to the CPU variant")
        for _ in range(10):  # and it stays so
            check(all_workers(job.endpoint, lambda w: w["variant"] == "cpu"),
                  "a rank ran accel while paused")
            time.sleep(0.1)
        publish("active")
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["accel_available"]), 20,
                   "every rank to see the accelerator back")
        s = load_summary(p, "ptdr load")
        job.stop()
        print("ptdr: %d requests under pause/unpause, 0 errors" % s["count"])

    # --- 1b. --variant accel: a paused accelerator is not used either (CPU while paused) ------
    with Job(3, ["--adapter", "ptdr", "--adapter-arg", "profiles=" + profiles,
                 "--adapter-arg", "samples=500", "--mqtt", broker, "--accel-bdf", bdf,
                 "--variant", "accel"]) as job:
        p = start_load(job.endpoint, 8, "monte-carlo", routes)
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "accel"
                                       and w["why"] == "fixed"), 60,
                   "every rank to serve with the fixed accelerator variant")
        publish("paused")
        wait_until(lambda: all_workers(job.endpoint, lambda w: not w["accel_available"]
                                       and w["variant"] == "cpu" and w["why"] == "fallback"),
                   20, "every --variant accel rank to fall back to the CPU variant")
        publish("active")
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "accel"), 20,
                   "every --variant accel rank to use the accelerator again")
        s = load_summary(p, "ptdr --variant accel load")
        job.stop()
        print("ptdr --variant accel: %d requests, CPU while paused, 0 errors" % s["count"])

    # --- 2. twospeed: the accelerator is faster, so it comes back after `active` ---------------
    so = os.path.join(BUILD, "tests", "tuner", "adapters", "twospeed.so")
    with Job(4, ["--adapter", so, "--mqtt", broker, "--accel-bdf", bdf]) as job:
        p = start_load(job.endpoint, 12)
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "accel"
                                       and w["why"] == "exploiting"), 60,
                   "every rank to settle on the faster accelerator variant")
        publish("paused")
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "cpu"
                                       and w["why"] == "fallback"), 20,
                   "every rank to fall back to the CPU variant")
        publish("active")
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "accel"
                                       and w["why"] == "exploiting"), 60,
                   "every rank to return to the faster accelerator variant")
        s = load_summary(p, "twospeed load")
        job.stop()
        print("twospeed: %d requests, accelerator chosen, dropped and chosen again, 0 errors"
              % s["count"])
finally:
    stop_mosquitto(mqtt_dir)
print("ok: worker tuners follow the accelerator state")
