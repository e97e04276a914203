"""Under real Slurm, with a real mosquitto that takes only TLS and known users (password file from
mosquitto_passwd, test CA from the openssl command, both made here): kfarm's worker ranks connect
with --mqtt ssl://... --mqtt-cafile --mqtt-username --mqtt-password-file, and follow the
accelerator state that ESFM publishes over TLS as its own user (attach, pause, unpause).
A job whose password file holds a wrong password is refused: each worker rank logs the broker's
refusal once (not once per retry) and keeps serving, learning locally."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import (BUILD, MOSQUITTO, Job, all_workers, check, load_summary,  # noqa: E402
                           start_load, stop_mosquitto, wait_until)

tmp = tempfile.mkdtemp(prefix="kfarm-worker-mqtt-tls-")
mqtt_dir = os.path.join(tmp, "mqtt")
tuner_pw = os.urandom(12).hex()
esfm_pw = os.urandom(12).hex()
subprocess.run([MOSQUITTO, "start-tls", mqtt_dir, "tuner:" + tuner_pw, "esfm:" + esfm_pw],
               capture_output=True, text=True, check=True)
url = subprocess.run([MOSQUITTO, "url", mqtt_dir], capture_output=True, text=True,
                     check=True).stdout.strip()
check(url.startswith("ssl://127.0.0.1:"), "harness url: %s" % url)
ca = os.path.join(mqtt_dir, "ca.crt")


def secret(name, text):
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


tuner_file = secret("tuner.pw", tuner_pw)
esfm_file = secret("esfm.pw", esfm_pw)
wrong_file = secret("wrong.pw", "x" + tuner_pw)

# ESFM on a FAKE sysfs tree and hypervisor; the workers look for the VF in the same tree.
sysfs = os.path.join(tmp, "sys")
hv = os.path.join(tmp, "hv.json")
with open(hv, "w") as f:
    json.dump({"domains": {"vm1": {"device_pause": True}}}, f)
subprocess.run([os.path.join(BUILD, "tests", "esfm", "fake-tree"), sysfs, "pf", "0000:01:00.0",
                "2", "pci-pf-stub", "0"], check=True, capture_output=True)
vf = "0000:01:00.1"


def esfm(*args):
    p = subprocess.run([os.path.join(BUILD, "tests", "esfm", "esfm-fakekernel"), "--sysfs-root",
                        sysfs, "--state-dir", os.path.join(tmp, "esfm-state"), "--connect",
                        "fake://" + hv, "--mqtt", url, "--mqtt-cafile", ca, "--mqtt-username",
                        "esfm", "--mqtt-password-file", esfm_file] + list(args),
                       capture_output=True, text=True)
    check(p.returncode == 0, "esfm %s: %s%s" % (" ".join(args), p.stdout, p.stderr))


so = os.path.join(BUILD, "tests", "tuner", "adapters", "twospeed.so")
common = ["--adapter", so, "--mqtt", url, "--mqtt-cafile", ca, "--mqtt-username", "tuner",
          "--accel-bdf", vf, "--sysfs-root", sysfs]
refused = "MQTT broker %s refused user tuner: not authorised" % url
try:
    esfm("init", "0000:01:00.0", "--vfs", "2")
    esfm("attach", vf, "vm1")  # retained {"state":"active"} on kfarm/accel/<node>/<vf>

    # --- 1. the right user: workers hear ESFM's pause and unpause over TLS ----------------------
    with Job(3, common + ["--mqtt-password-file", tuner_file]) as job:
        p = start_load(job.endpoint, 12)
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "accel"
                                       and w["why"] == "exploiting"), 60,
                   "every rank to settle on the faster accelerator variant")
        esfm("pause", vf)
        wait_until(lambda: all_workers(job.endpoint, lambda w: not w["accel_available"]
                                       and w["variant"] == "cpu" and w["why"] == "fallback"), 20,
                   "every rank to hear ESFM's pause over TLS and use the CPU variant")
        esfm("unpause", vf)
        wait_until(lambda: all_workers(job.endpoint, lambda w: w["variant"] == "accel"), 60,
                   "every rank to hear ESFM's unpause over TLS and use the accelerator again")
        s = load_summary(p, "load with the right user")
        job.stop()
        out = job.output()
        check(refused not in out, "a rank was refused with the right password:\n" + out)
        check("Sanitizer" not in out and "runtime error" not in out, "sanitizer report:\n" + out)
        print("right user: %d requests, pause/unpause heard over TLS, 0 errors" % s["count"])
    with open(os.path.join(mqtt_dir, "mosquitto.log")) as f:
        log = f.read()
    check(log.count("u'tuner')") >= 2, "the broker did not see the ranks log in as tuner:\n" + log)

    # --- 2. a wrong password: refused, said once per rank, requests still served ----------------
    with Job(3, common + ["--mqtt-password-file", wrong_file]) as job:
        p = start_load(job.endpoint, 4)
        wait_until(lambda: job.output().count(refused) >= 2, 30,
                   "both worker ranks to log '%s'" % refused)
        s = load_summary(p, "load with a wrong password")
        job.stop()
        out = job.output()
        n = out.count(refused)
        check(n == 2, "expected the refusal once per worker rank (2), got %d:\n%s" % (n, out))
        check("check --mqtt-username/--mqtt-password-file" in out, out)
        check("Sanitizer" not in out and "runtime error" not in out, "sanitizer report:\n" + out)
        print("wrong password: refused, logged once per rank; %d requests served locally"
              % s["count"])
finally:
    stop_mosquitto(mqtt_dir)
    subprocess.run(["rm", "-rf", tmp])
print("ok: kfarm workers and ESFM use MQTT over TLS with their users")
