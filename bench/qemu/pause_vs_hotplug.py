#!/usr/bin/python3
"""Benchmark: taking QEMU's edu device away from a running guest and giving it back, with kfarm's
device_pause (QMP) against device_del + device_add of the same device, in the same guest run.

device_pause needs no guest cooperation; device_del waits for the guest to acknowledge the unplug
(pciehp's attention-button delay) and device_add for the guest to enumerate the device again.
Usage: bench/qemu/pause_vs_hotplug.py [--qemu BIN] [--pauses N] [--hotplugs N]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
src = os.environ.get("KFARM_SOURCE_DIR", os.path.normpath(os.path.join(here, "..", "..")))
sys.path.insert(0, os.path.join(src, "tests", "qemu"))
from qmp import QMP, stop_session  # noqa: E402


def count_lines(path, text):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for l in f.read().splitlines() if text.encode() in l)


def wait_count(path, text, n, timeout, proc):
    deadline = time.monotonic() + timeout
    while count_lines(path, text) < n:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise TimeoutError("%r seen fewer than %d times within %.0f s" % (text, n, timeout))
        time.sleep(0.01)


def stats(xs):
    return "median %8.2f ms  mean %8.2f ms  min %8.2f ms  max %8.2f ms  (n=%d)" % (
        statistics.median(xs) * 1e3, statistics.mean(xs) * 1e3, min(xs) * 1e3, max(xs) * 1e3,
        len(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu")
    ap.add_argument("--harness", default=os.environ.get(
        "KFARM_GUEST_HARNESS", os.path.join(src, "tests", "harness", "guest", "run")))
    ap.add_argument("--pauses", type=int, default=50)
    ap.add_argument("--hotplugs", type=int, default=3)
    a = ap.parse_args()
    qemu = a.qemu or subprocess.run([os.path.join(src, "qemu", "build")], check=True,
                                    stdout=subprocess.PIPE, text=True).stdout.split()[-1]
    tmp = tempfile.mkdtemp(prefix="kfarm-qemu-bench.")
    sock, console = os.path.join(tmp, "qmp.sock"), os.path.join(tmp, "console.log")
    guest = subprocess.Popen(
        [a.harness, "--qemu", qemu, "--timeout", "900", "--log", console, "--quiet",
         "--script", os.path.join(here, "guest_watch.sh"), "--",
         "-L", "/usr/share/qemu", "-L", "/usr/share/seabios",
         # Native PCIe hotplug (pciehp) rather than q35's ACPI hotplug: the usual path for a
         # device behind a root port, and the one whose delay the guest imposes is known (5 s).
         "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
         "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
         "-device", "edu,id=e0,bus=rp1",
         "-qmp", "unix:%s,server=on,wait=off" % sock],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_count(console, "KFARM-BENCH=present", 1, 180, guest)
        q = QMP(sock)
        pause, resume, cycle = [], [], []
        for _ in range(a.pauses):
            t0 = time.monotonic()
            q.cmd("device_pause", id="e0", pause=True)
            t1 = time.monotonic()
            q.cmd("device_pause", id="e0", pause=False)
            t2 = time.monotonic()
            pause.append(t1 - t0)
            resume.append(t2 - t1)
            cycle.append(t2 - t0)
        q.events.clear()
        dele, add, hcycle = [], [], []
        for i in range(a.hotplugs):
            t0 = time.monotonic()
            q.cmd("device_del", id="e0")
            q.wait_event("DEVICE_DELETED", 120, device="e0")
            wait_count(console, "KFARM-BENCH=absent", i + 1, 120, guest)
            t1 = time.monotonic()
            q.cmd("device_add", driver="edu", id="e0", bus="rp1")
            wait_count(console, "KFARM-BENCH=present", i + 2, 120, guest)
            t2 = time.monotonic()
            dele.append(t1 - t0)
            add.append(t2 - t1)
            hcycle.append(t2 - t0)
        q.cmd("quit")
        q.close()
    finally:
        stop_session(guest)
        shutil.rmtree(tmp, ignore_errors=True)
    qemu_ver = subprocess.run([qemu, "--version"], stdout=subprocess.PIPE,
                              text=True).stdout.splitlines()[0]
    print("QEMU: %s (%s), q35 TCG guest, Debian 6.1 kernel, edu behind a pcie-root-port" %
          (qemu, qemu_ver))
    print("kfarm device_pause (QMP), the guest keeps the device:")
    print("  pause            " + stats(pause))
    print("  resume           " + stats(resume))
    print("  pause+resume     " + stats(cycle))
    print("baseline device_del + device_add (guest unplugs and re-enumerates):")
    print("  del -> gone      " + stats(dele))
    print("  add -> present   " + stats(add))
    print("  del+add          " + stats(hcycle))
    print("ratio del+add / pause+resume (medians): %.0fx" %
          (statistics.median(hcycle) / statistics.median(cycle)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
