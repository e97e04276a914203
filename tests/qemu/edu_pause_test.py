#!/usr/bin/python3
"""device_pause on a real guest: Debian's 6.1 kernel in a q35 TCG guest with QEMU's edu device,
driven by the patched QEMU. The guest script (guest/edu_pause.sh) reads the BAR with devmem and
announces its steps on the console; this side watches the console and drives QMP/HMP.

Checks: the BAR reads all-ones while paused and the device stays in the guest's PCI topology
with no unplug in dmesg; it reads 0x010000ED again after resume with its state kept; every QMP
error case (unknown id, device that cannot pause, already paused, not paused, migrate/savevm/
device_del while paused); the HMP twin; the events; and a paused device that the guest ejects
itself takes its migration blocker with it.
Usage: edu_pause_test.py [--qemu BIN] [--harness PATH] [--keep]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from qmp import QMP, QMPError, stop_session, wait_for_line  # noqa: E402
from qemu_checks import (SOURCE, check, expect_error, failures, local_functions,  # noqa: E402
                         patched_qemu, report)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", help="patched qemu-system-x86_64 (default: qemu/build's)")
    ap.add_argument("--harness", default=os.environ.get(
        "KFARM_GUEST_HARNESS", os.path.join(SOURCE, "tests", "harness", "guest", "run")))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    qemu = a.qemu or patched_qemu()
    tmp = tempfile.mkdtemp(prefix="kfarm-qemu-pause.")
    sock, console = os.path.join(tmp, "qmp.sock"), os.path.join(tmp, "console.log")
    cmd = [a.harness, "--qemu", qemu, "--timeout", "240", "--log", console, "--quiet",
           "--script", os.path.join(here, "guest", "edu_pause.sh"), "--",
           "-L", "/usr/share/qemu", "-L", "/usr/share/seabios",
           # Behind a hot-pluggable root port, so that an unplug would show in the guest.
           "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
           "-device", "edu,id=e0,bus=rp1",
           "-qmp", "unix:%s,server=on,wait=off" % sock]
    guest = subprocess.Popen(cmd, start_new_session=True)
    q = None
    try:
        wait_for_line(console, "KFARM-STEP=PAUSE1", 180, guest)
        q = QMP(sock)
        path = "/machine/peripheral/e0"

        expect_error(lambda: q.cmd("device_pause", id="nope", pause=True),
                     "DeviceNotFound", "'nope' not found", "pause unknown id")
        expect_error(lambda: q.cmd("device_pause", id="rp1", pause=True),
                     "GenericError", "does not support device_pause", "pause pcie-root-port")
        expect_error(lambda: q.cmd("device_pause", id="/machine/q35/mch", pause=True),
                     "GenericError", "does not support device_pause", "pause the host bridge")
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=False),
                     "GenericError", "is not paused", "resume a running device")
        # vfio-pci cannot run here (no VFIO), so its hooks are checked in the binary: they are
        # static and referenced only by vfio_pci_dev_class_init's pdc->pause/resume, so they are
        # in the symbol table exactly when the hook is wired (dropped as unused otherwise); the
        # trace event from the same patch must answer over QMP.
        hooks = local_functions(qemu, ("vfio_pci_pause", "vfio_pci_resume"))
        check(hooks == {"vfio_pci_pause", "vfio_pci_resume"},
              "vfio-pci's pause and resume hooks are compiled in and wired (nm %s: %s)"
              % (os.path.basename(qemu), sorted(hooks) or "neither"))
        try:
            ev = q.cmd("trace-event-get-state", name="vfio_pci_pause")
        except QMPError as e:
            ev = "%s: %s" % (e.cls, e.desc)
        check(isinstance(ev, list) and [e["name"] for e in ev] == ["vfio_pci_pause"],
              "trace event vfio_pci_pause of the vfio-pci pause patch is known: %r" % (ev,))

        q.cmd("device_pause", id="e0", pause=True)
        ev = q.wait_event("DEVICE_PAUSED", 10, device="e0")
        check(ev["data"]["path"] == path, "DEVICE_PAUSED for e0 at %s" % ev["data"]["path"])
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=True),
                     "GenericError", "already paused", "pause a paused device")
        expect_error(lambda: q.cmd("migrate", uri="exec:cat >/dev/null"),
                     "GenericError", "paused by device_pause", "migrate while paused")
        out = q.hmp("savevm kfarm")
        check("paused by device_pause" in out, "savevm while paused refused: %s" % out.strip())
        mig = q.cmd("query-migrate")
        check(any("paused by device_pause" in r for r in mig.get("blocked-reasons", [])),
              "query-migrate lists the pause blocker")
        expect_error(lambda: q.cmd("device_del", id="e0"),
                     "GenericError", "paused by device_pause", "device_del while paused")

        wait_for_line(console, "KFARM-STEP=PAUSED1", 90, guest)
        q.cmd("device_pause", id="e0", pause=False)
        q.wait_event("DEVICE_RESUMED", 10, device="e0", path=path)
        check(True, "DEVICE_RESUMED for e0")
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=False),
                     "GenericError", "is not paused", "resume a resumed device")
        mig = q.cmd("query-migrate")
        check(not any("device_pause" in r for r in mig.get("blocked-reasons", [])),
              "the migration blocker is gone after resume")

        wait_for_line(console, "KFARM-STEP=PAUSE2", 90, guest)
        out = q.hmp("device_pause e0 on")
        check(out == "", "HMP device_pause e0 on -> %r" % out)
        q.wait_event("DEVICE_PAUSED", 10, device="e0")
        out = q.hmp("device_pause e0 on")
        check("already paused" in out, "HMP pause twice: %s" % out.strip())
        wait_for_line(console, "KFARM-STEP=PAUSED2", 90, guest)
        out = q.hmp("device_pause e0 off")
        check(out == "", "HMP device_pause e0 off -> %r" % out)
        q.wait_event("DEVICE_RESUMED", 10, device="e0")

        wait_for_line(console, "KFARM-STEP=PAUSE3", 90, guest)
        q.cmd("device_pause", id="e0", pause=True)
        q.wait_event("DEVICE_PAUSED", 10, device="e0")
        wait_for_line(console, "KFARM-STEP=EJECTED3", 90, guest)
        q.wait_event("DEVICE_DELETED", 60, device="e0")
        check(True, "the guest's eject of the paused device completed (DEVICE_DELETED)")
        mig = q.cmd("query-migrate")
        check(not any("device_pause" in r for r in mig.get("blocked-reasons", [])),
              "the pause blocker went with the ejected device: %s" % mig.get("blocked-reasons"))
        expect_error(lambda: q.cmd("device_pause", id="e0", pause=False),
                     "DeviceNotFound", "not found", "resume an ejected device")
        # The guest waits for this before it finishes (and powers the VM off).
        q.cmd("device_add", driver="edu", id="e0", bus="rp1")

        wait_for_line(console, "KFARM-STEP=DONE", 90, guest)
        rc = guest.wait(timeout=60)
        check(rc == 0, "guest script exit %d" % rc)
    except Exception as e:  # a timeout or a dead guest: report it with the console
        failures.append(repr(e))
        print("FAIL: %r" % e, flush=True)
    finally:
        if q:
            q.close()
        stop_session(guest)
        if failures and os.path.exists(console):
            print("--- guest console ---")
            with open(console, errors="replace") as f:
                sys.stdout.write(f.read())
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return report()


if __name__ == "__main__":
    sys.exit(main())
