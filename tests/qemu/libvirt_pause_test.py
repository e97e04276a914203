#!/usr/bin/python3
"""device_pause through libvirt: a private libvirtd (session mode, as an unprivileged user, all
state in a temp dir) runs a q35 TCG domain whose <emulator> is the patched QEMU, with an edu
device under the user alias ua-edu0; QMP device_pause goes through virDomainQemuMonitorCommand
(virsh qemu-monitor-command), the call ESFM's pause/unpause make. A second domain on Debian's
unpatched QEMU answers CommandNotFound, the answer on which ESFM falls back to detach/attach.
With --esfm-probe (set by ctest when ESFM is built), ESFM's own pause step (libesfm's libvirt
backend) pauses and resumes a second edu under the alias ESFM gives a VF, through the QMP path.
Usage: libvirt_pause_test.py [--qemu BIN] [--user NAME] [--esfm-probe BIN]
"""
import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from qemu_checks import check, failures, patched_qemu, report  # noqa: E402

# The alias ESFM gives the hostdev of VF 0000:01:00.1; an edu stands in for the VF here.
ESFM_ALIAS = "ua-kfarm-0000-01-00-1"
DOMAIN = """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-device'/><qemu:arg value='edu,id=ua-edu0'/>
    <qemu:arg value='-device'/><qemu:arg value='edu,id={esfm_alias}'/>
  </qemu:commandline>
</domain>
"""


class Session:
    """libvirtd in session mode as USER with HOME and XDG dirs under ROOT."""

    def __init__(self, root, user):
        self.user = user
        pw = pwd.getpwnam(user)
        self.env = dict(os.environ, HOME=os.path.join(root, "home"),
                        XDG_RUNTIME_DIR=os.path.join(root, "run"),
                        XDG_CONFIG_HOME=os.path.join(root, "home", ".config"),
                        XDG_CACHE_HOME=os.path.join(root, "home", ".cache"),
                        XDG_DATA_HOME=os.path.join(root, "home", ".local", "share"),
                        LIBVIRT_DEFAULT_URI="qemu:///session")
        for d in ("home", "run"):
            os.makedirs(os.path.join(root, d), mode=0o700)
            os.chown(os.path.join(root, d), pw.pw_uid, pw.pw_gid)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        self.log = open(os.path.join(root, "libvirtd.log"), "w")
        libvirtd = shutil.which("libvirtd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if not libvirtd:
            raise RuntimeError("libvirtd not found: apt-get install libvirt-daemon")
        self.proc = subprocess.Popen(self.as_user([libvirtd]), env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        sock = os.path.join(root, "run", "libvirt", "libvirt-sock")
        self.uri = "qemu:///session?socket=" + sock
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not create %s (see %s)" % (sock, self.log.name))
            time.sleep(0.05)

    def as_user(self, argv):
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", self.user, "--"] + argv

    def virsh(self, *args):
        r = subprocess.run(self.as_user(["virsh", "-q"] + list(args)), env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def qmp(self, dom, cmd, **args):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        rc, out, err = self.virsh("qemu-monitor-command", dom, json.dumps(req))
        if rc != 0:
            return {"error": "virsh failed: " + err}
        r = json.loads(out)  # QEMU's reply as is, errors included
        if isinstance(r.get("error"), dict):
            r["error"] = "%s: %s" % (r["error"].get("class"), r["error"].get("desc"))
        return r

    def run(self, argv):
        r = subprocess.run(self.as_user(argv), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        return r.returncode, r.stdout

    def run_as_caller(self, argv):
        """As this process (root in CI): ESFM runs only as root, and reaches the unprivileged
        session daemon through its socket (self.uri)."""
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return r.returncode, r.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu")
    ap.add_argument("--unpatched", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--user", default="nobody", help="user libvirtd runs as when started as root")
    ap.add_argument("--esfm-probe", default=os.environ.get("KFARM_ESFM_QMP_PROBE"),
                    help="esfm-qmp-probe (tests/qemu): also check ESFM's pause step")
    a = ap.parse_args()
    qemu = a.qemu or patched_qemu()
    tmp = tempfile.mkdtemp(prefix="kfarm-qemu-libvirt.")
    probe = a.esfm_probe
    state = os.path.join(tmp, "esfm-state")
    lv = None
    try:
        lv = Session(tmp, a.user)
        xml = os.path.join(tmp, "patched.xml")
        with open(xml, "w") as f:
            # No -L: qemu/build sets Debian's firmware path, as a libvirt <emulator> needs.
            f.write(DOMAIN.format(name="kfarm-pause", emulator=qemu, esfm_alias=ESFM_ALIAS))
        rc, out, err = lv.virsh("create", xml)
        check(rc == 0, "libvirtd starts a domain on the patched emulator: %s" % (err or out))
        if rc != 0:
            raise RuntimeError("no domain")
        r = lv.qmp("kfarm-pause", "device_pause", id="ua-edu0", pause=True)
        check(r.get("return") == {}, "device_pause ua-edu0 through libvirt: %s" % r)
        r = lv.qmp("kfarm-pause", "device_pause", id="ua-edu0", pause=True)
        check("already paused" in r.get("error", ""), "pause twice: %s" % r)
        r = lv.qmp("kfarm-pause", "migrate", uri="exec:cat >/dev/null")
        check("paused by device_pause" in r.get("error", ""), "migrate refused: %s" % r)
        r = lv.qmp("kfarm-pause", "device_pause", id="ua-edu0", pause=False)
        check(r.get("return") == {}, "resume ua-edu0 through libvirt: %s" % r)
        r = lv.qmp("kfarm-pause", "device_pause", id="hostdev9", pause=True)
        check(r.get("error", "").startswith("DeviceNotFound:"), "unknown alias: %s" % r)
        rc, out, err = lv.virsh("qemu-monitor-command", "--hmp", "kfarm-pause",
                                "device_pause ua-edu0 on")
        check(rc == 0 and out == "", "HMP through libvirt: rc %d %r %r" % (rc, out, err))
        r = lv.qmp("kfarm-pause", "device_pause", id="ua-edu0", pause=True)
        check("already paused" in r.get("error", ""), "HMP pause took effect: %s" % r)
        rc, out, err = lv.virsh("qemu-monitor-command", "--hmp", "kfarm-pause",
                                "device_pause ua-edu0 off")
        check(rc == 0 and out == "", "HMP resume through libvirt: rc %d %r %r" % (rc, out, err))
        rc, out, err = lv.virsh("domstate", "kfarm-pause")
        check(out == "running", "domain still running: %s" % out)

        if probe:
            rc, out = lv.run_as_caller([probe, lv.uri, "kfarm-pause", ESFM_ALIAS, "pause", "-",
                              state])
            print(out.rstrip())
            check(rc == 0 and "method=qmp" in out and "(QMP device_pause)" in out,
                  "ESFM's pause step took the QMP path (rc %d)" % rc)
            r = lv.qmp("kfarm-pause", "device_pause", id=ESFM_ALIAS, pause=True)
            check("already paused" in r.get("error", ""), "ESFM's pause reached QEMU: %s" % r)
            rc, out = lv.run_as_caller([probe, lv.uri, "kfarm-pause", ESFM_ALIAS, "unpause",
                              "qmp", state])
            print(out.rstrip())
            check(rc == 0 and "(QMP device_pause)" in out, "ESFM's unpause through QMP (rc %d)" % rc)
            r = lv.qmp("kfarm-pause", "device_pause", id=ESFM_ALIAS, pause=False)
            check("is not paused" in r.get("error", ""), "ESFM's unpause reached QEMU: %s" % r)
        lv.virsh("destroy", "kfarm-pause")

        if os.path.exists(a.unpatched):
            xml = os.path.join(tmp, "unpatched.xml")
            with open(xml, "w") as f:
                f.write(DOMAIN.format(name="kfarm-unpatched", emulator=a.unpatched,
                                     esfm_alias=ESFM_ALIAS))
            rc, out, err = lv.virsh("create", xml)
            check(rc == 0, "domain on Debian's unpatched QEMU: %s" % (err or out))
            r = lv.qmp("kfarm-unpatched", "device_pause", id="ua-edu0", pause=True)
            check(r.get("error", "").startswith("CommandNotFound:"),
                  "unpatched QEMU answers CommandNotFound (ESFM's fallback cue): %s" % r)
            if probe:
                rc, out = lv.run_as_caller([probe, lv.uri, "kfarm-unpatched", ESFM_ALIAS,
                                  "pause", "-", state])
                print(out.rstrip())
                check("falling back to detach" in out and "method=qmp" not in out,
                      "ESFM's pause step on the unpatched QEMU falls back to detach")
            lv.virsh("destroy", "kfarm-unpatched")
    except Exception as e:
        failures.append(repr(e))
        print("FAIL: %r" % e, flush=True)
    finally:
        if lv:
            for dom in ("kfarm-pause", "kfarm-unpatched"):
                lv.virsh("destroy", dom)
            lv.stop()
            if failures:
                print("--- libvirtd log ---")
                with open(os.path.join(tmp, "libvirtd.log"), errors="replace") as f:
                    sys.stdout.write(f.read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return report()


if __name__ == "__main__":
    sys.exit(main())
