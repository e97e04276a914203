#!/usr/bin/env python3
"""PF locks: `esfm reconf` (FAKE kernel with the paper's VF-count latency, so each reconf spends
~1.3 s with the PF's VFs gone or changing) runs again and again while two loops of job-attach /
job-detach run beside it. Every job-attach must succeed (a VF is never handed out while its PF is
being reconfigured: without the lock, attaches in the sriov_numvfs=0 window fail), at least one
must have waited for a reconf, and at the end nothing is lost: every VF a VM holds is recorded,
no record is left, no journal entry is pending."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, check, fail  # noqa: E402

FAKE_TREE = os.path.join(BUILD, "tests", "esfm", "fake-tree")
ESFM = os.path.join(BUILD, "tests", "esfm", "esfm-fakekernel")
PF = "0000:01:00.0"
T = tempfile.mkdtemp(prefix="esfm-locks-")
HV = os.path.join(T, "hv.json")


def esfm(*args, latency=False):
    env = dict(os.environ)
    if latency:
        env["ESFM_FAKE_KERNEL_LATENCY"] = "paper"
    return subprocess.run([ESFM, "--sysfs-root", os.path.join(T, "sys"), "--state-dir",
                           os.path.join(T, "state"), "--connect", "fake://" + HV] + list(args),
                          capture_output=True, text=True, env=env)


def main():
    for p in (FAKE_TREE, ESFM):
        if not os.access(p, os.X_OK):
            fail("%s missing: build kfarm first (scripts/build)" % p)
    subprocess.run([FAKE_TREE, os.path.join(T, "sys"), "pf", PF, "8", "pci-pf-stub", "0"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(HV, "w") as f:
        json.dump({"domains": {"vm1": {"device_pause": True}, "vm2": {"device_pause": True}}}, f)
    check(esfm("init", PF, "--vfs", "4").returncode == 0, "init")
    reconf_spans, job_spans, errors = [], [], []
    done = threading.Event()

    def reconf_loop():
        for n in (6, 4, 6, 4):
            t0 = time.monotonic()
            r = esfm("reconf", PF, str(n), latency=True)
            reconf_spans.append((t0, time.monotonic()))
            if r.returncode:
                errors.append("reconf %d: %s" % (n, r.stderr))
        done.set()

    def job_loop(k):
        i = 0
        while not done.is_set():
            job, vm = "j%d-%d" % (k, i), "vm%d" % (k + 1)
            t0 = time.monotonic()
            r = esfm("job-attach", job, vm, "1")
            job_spans.append((t0, time.monotonic()))
            if r.returncode:
                errors.append("job-attach %s: %s" % (job, r.stderr.strip()))
            r = esfm("job-detach", job)
            if r.returncode:
                errors.append("job-detach %s: %s" % (job, r.stderr.strip()))
            i += 1

    threads = [threading.Thread(target=reconf_loop)] + [
        threading.Thread(target=job_loop, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    check(not errors, "every operation succeeds: %s" % errors[:3])
    waited = sum(1 for (a, b) in job_spans for (r0, r1) in reconf_spans if a < r1 and b > r1)
    check(waited > 0, "some job-attach ran into a reconf and waited for it (%d jobs)" %
          len(job_spans))
    with open(HV) as f:
        held = [h["bdf"] for d in json.load(f)["domains"].values() for h in d.get("hostdevs", [])]
    st = json.load(open(os.path.join(T, "state", "vfs.json")))["vfs"]
    journal = os.listdir(os.path.join(T, "state", "journal"))
    check(held == [] and st == {} and journal == [],
          "nothing lost or left: hostdevs %r records %r journal %r" % (held, st, journal))
    print("PASS: %d job-attach/detach pairs beside %d reconfs, %d waited for one" %
          (len(job_spans), len(reconf_spans), waited))


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(T, ignore_errors=True)
