#!/usr/bin/python3
"""device_pause over QMP without a guest (QEMU stopped with -S): every error case, the events,
the migration/savevm/unplug blockers, pause and resume of edu on the root bus and of a hot-plugged
edu, and the HMP twin. The guest-visible behaviour is tests/qemu/edu_pause_test.py.
Usage: qmp_errors_test.py [--qemu BIN]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from qmp import QMP  # noqa: E402
from qemu_checks import check, expect_error, failures, patched_qemu, report  # noqa: E402



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu")
    a = ap.parse_args()
    qemu = a.qemu or patched_qemu()
    tmp = tempfile.mkdtemp(prefix="kfarm-qemu-qmp.")
    sock = os.path.join(tmp, "qmp.sock")
    proc = subprocess.Popen([qemu, "-M", "q35", "-accel", "tcg", "-S", "-display", "none",
                             "-L", "/usr/share/qemu", "-L", "/usr/share/seabios", "-nic", "none",
                             "-device", "edu,id=e0",
                             "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
                             "-qmp", "unix:%s,server=on,wait=off" % sock],
                            stdin=subprocess.DEVNULL)
    q = None
    try:
        q = QMP(sock)
        schema = q.cmd("query-qmp-schema")
        names = {e.get("name") for e in schema}
        check({"device_pause", "DEVICE_PAUSED", "DEVICE_RESUMED"} <= names,
              "schema has device_pause, DEVICE_PAUSED, DEVICE_RESUMED")

        expect_error(lambda: q.cmd("device_pause", id="nope", pause=True),
                     "DeviceNotFound", "not found", "unknown id")
        expect_error(lambda: q.cmd("device_pause", id="nope", pause=False),
                     "DeviceNotFound", "not found", "resume unknown id")
        expect_error(lambda: q.cmd("device_pause", id="rp1", pause=True),
                     "GenericError", "does not support device_pause", "PCI device without hook")
        expect_error(lambda: q.cmd("device_pause", id="/machine/unattached/device[0]", pause=True),
                     "GenericError", "only PCI devices can be paused", "non-PCI device (a CPU)")
        expect_error(lambda: q.cmd("device_pause", id="e0"),
                     "GenericError", "'pause' is missing", "missing argument")
        expect_error(lambda: q.cmd("device_pause", id="e0", pause="yes"),
                     "GenericError", "pause", "argument of the wrong type")
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=False),
                     "GenericError", "is not paused", "resume a running device")

        q.cmd("device_pause", id="e0", pause=True)
        q.wait_event("DEVICE_PAUSED", 5, device="e0", path="/machine/peripheral/e0")
        check(True, "DEVICE_PAUSED")
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=True),
                     "GenericError", "already paused", "pause twice")
        expect_error(lambda: q.cmd("migrate", uri="exec:cat >/dev/null"),
                     "GenericError", "paused by device_pause", "migrate while paused")
        check("paused by device_pause" in q.hmp("savevm s1"), "savevm while paused refused")
        expect_error(lambda: q.cmd("device_del", id="e0"),
                     "GenericError", "paused by device_pause", "device_del while paused")
        q.cmd("device_pause", id="e0", pause=False)
        q.wait_event("DEVICE_RESUMED", 5, device="e0")
        check(True, "DEVICE_RESUMED")

        # A hot-plugged device (the path ESFM and libvirt take) pauses like a cold-plugged one.
        q.cmd("device_add", driver="edu", id="e1", bus="rp1")
        q.cmd("device_pause", id="e1", pause=True)
        q.wait_event("DEVICE_PAUSED", 5, device="e1")
        out = q.hmp("device_pause e1 off")
        check(out == "", "HMP resume of a hot-plugged edu: %r" % out)
        q.wait_event("DEVICE_RESUMED", 5, device="e1")
        out = q.hmp("device_pause nope on")
        check("not found" in out, "HMP unknown id: %s" % out.strip())
        out = q.hmp("help device_pause")
        check("device_pause device on|off" in out, "HMP help: %s" % out.strip())

        # Both paused at once, then a migration starts only when both are resumed.
        q.cmd("device_pause", id="e0", pause=True)
        q.cmd("device_pause", id="e1", pause=True)
        q.cmd("device_pause", id="e0", pause=False)
        expect_error(lambda: q.cmd("migrate", uri="exec:cat >/dev/null"),
                     "GenericError", "'e1' is paused", "migrate with one of two still paused")
        q.cmd("device_pause", id="e1", pause=False)
        # Slow enough that the migration is still running when we try to pause.
        q.cmd("migrate-set-parameters", **{"max-bandwidth": 4096})
        q.cmd("migrate", uri="exec:cat >/dev/null")
        status = q.cmd("query-migrate").get("status")
        check(status in ("setup", "active"), "migrate accepted once nothing is paused (%s)" % status)
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=True),
                     "GenericError", "Cannot pause device 'e0'", "pause during a migration")
        q.cmd("migrate_cancel")
    except Exception as e:
        failures.append(repr(e))
        print("FAIL: %r" % e, flush=True)
    finally:
        if q:
            q.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return report()


if __name__ == "__main__":
    sys.exit(main())
