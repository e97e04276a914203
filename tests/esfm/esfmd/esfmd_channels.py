#!/usr/bin/env python3
"""esfmd on the FAKE sysfs tree and the FAKE hypervisor, one channel socket per fake domain:
normal requests, every bad input of docs/esfmd.md (malformed, truncated, oversized, byte at a
time, over caps, bitstream not allowed, another VM's job or VF, domain not running, concurrent
requests of one VM), release of a stopped domain's VFs, and esfmd killed mid-attach (the journal
repairs it on restart). After each bad input nothing changed and the daemon still serves."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "harness"))
from kfarm_harness import (BUILD, check, fail, start_mosquitto, stop_mosquitto,  # noqa: E402
                           wait_until)

ESFMD = os.path.join(BUILD, "src", "esfm", "esfmd", "esfmd")
FAKE_TREE = os.path.join(BUILD, "tests", "esfm", "fake-tree")
ESFM = os.path.join(BUILD, "tests", "esfm", "esfm-fakekernel")
PF = "0000:01:00.0"
READ_TIMEOUT_MS = 1500

T = tempfile.mkdtemp(prefix="esfmd-")
SYS, STATE, SOCK, HV = (os.path.join(T, x) for x in ("sys", "state", "sock", "hv.json"))
POLICY = os.path.join(T, "policy.json")
daemon = None
MQTT = {}  # "url": the broker esfmd and esfm publish VF states to


def esfm(*args):
    mqtt = ["--mqtt", MQTT["url"]] if "url" in MQTT else []
    return subprocess.run([ESFM, "--sysfs-root", SYS, "--state-dir", STATE, "--connect",
                           "fake://" + HV, "--policy", POLICY] + mqtt + list(args), check=True,
                          capture_output=True, text=True).stdout


def setup():
    subprocess.run([FAKE_TREE, SYS, "pf", PF, "8", "pci-pf-stub", "0"], check=True,
                   stdout=subprocess.DEVNULL)
    doms = {"vm1": {"device_pause": True}, "vm2": {"device_pause": True},
            "vm3": {"device_pause": True, "running": False}}
    with open(HV, "w") as f:
        json.dump({"domains": doms}, f)
    os.makedirs(os.path.join(T, "bits"), mode=0o755)
    with open(POLICY, "w") as f:
        json.dump({"vfs": {"exclusive": True, "per_job": 2},
                   "bitstream_dir": os.path.join(T, "bits"),
                   "bitstreams": [{"name": "good", "path": os.path.join(T, "bits", "good.bit"),
                                   "sha256": "0" * 64}]}, f)
    os.chmod(T, 0o755)
    esfm("init", PF, "--vfs", "6")


def start(env_extra=None):
    global daemon
    env = dict(os.environ)
    env.update(env_extra or {})
    log = open(os.path.join(T, "esfmd.log"), "a")
    for dom in ("vm1", "vm2", "vm3"):  # a killed esfmd leaves its sockets
        if os.path.exists(sock_path(dom)):
            os.unlink(sock_path(dom))
    daemon = subprocess.Popen(
        [ESFMD, "--connect", "fake://" + HV, "--sysfs-root", SYS, "--state-dir", STATE,
         "--policy", POLICY, "--socket-dir", SOCK, "--domain", "vm1=node1", "--domain",
         "vm2=node2", "--domain", "vm3=node3", "--max-vfs-per-vm", "3", "--read-timeout",
         str(READ_TIMEOUT_MS), "--check-interval", "200", "--guest-buses", "0x10:4",
         "--mqtt", MQTT["url"]],
        stderr=log, env=env)
    wait_until(lambda: all(os.path.exists(sock_path(d)) for d in ("vm1", "vm2", "vm3")), 20,
               "esfmd's channel sockets")


def stop():
    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=30) == 0, "esfmd exits 0 on SIGTERM")


def sock_path(dom):
    return os.path.join(SOCK, dom + ".sock")


class Chan:
    """One connection to a domain's channel socket (what QEMU's chardev is)."""

    def __init__(self, dom):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(sock_path(dom))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                fail("esfmd closed the channel; buffered %r" % self.buf)
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode()

    def line_or_eof(self):
        """The next line, or None when esfmd closed the channel (it died)."""
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        return self.line()

    def ask(self, text):
        self.send(text + "\n")
        return self.line()

    def close(self):
        self.s.close()


def words(reply):
    parts = reply.split(" ")
    return parts[2], dict(p.split("=", 1) for p in parts[3:] if "=" in p)


def hv():
    with open(HV) as f:
        return json.load(f)["domains"]


def snapshot():
    st = open(os.path.join(STATE, "vfs.json")).read() if os.path.exists(
        os.path.join(STATE, "vfs.json")) else ""
    return (json.dumps(hv(), sort_keys=True), st, sorted(os.listdir(os.path.join(STATE, "journal")))
            if os.path.isdir(os.path.join(STATE, "journal")) else [])


def expect_err(ch, text, code, what):
    before = snapshot()
    r = ch.ask(text) if text is not None else ch.line()
    check(r.split(" ")[2:4] == ["err", code], "%s: want err %s, got %r" % (what, code, r))
    check(snapshot() == before, "%s changed something" % what)
    check(words(ch.ask("esfm1 p0 hello"))[0] == "ok", "esfmd serves after " + what)
    print("ok: %s -> %s" % (what, r), flush=True)
    return r


def guests(dom):
    return sorted(h["guest"] for h in hv()[dom].get("hostdevs", []))


def test_normal_requests():
    c1, c2 = Chan("vm1"), Chan("vm2")
    v, kv = words(c1.ask("esfm1 h1 hello"))
    check(v == "ok" and kv == {"proto": "esfm1", "domain": "vm1", "node": "node1"}, "hello vm1")
    v, kv = words(c1.ask("esfm1 a1 job-attach job=10 vfs=2 uid=1000 partition=fpga"))
    check(v == "ok" and kv["vfs"] == "2" and kv["node"] == "node1", "job-attach: %r" % kv)
    bdfs = sorted(kv["bdfs"].split(","))
    check(bdfs == guests("vm1"), "granted guest BDFs are vm1's hostdevs: %r" % bdfs)
    v, kv2 = words(c1.ask("esfm1 a2 job-attach job=10 vfs=2 uid=1000"))
    check(v == "ok" and sorted(kv2["bdfs"].split(",")) == bdfs, "a repeated job-attach is idempotent")
    # The same job id from another VM is another job (a multi-node job): disjoint VFs.
    v, kv = words(c2.ask("esfm1 b1 job-attach job=10 vfs=1"))
    check(v == "ok" and len(guests("vm2")) == 1, "vm2's job 10 gets its own VF")
    host_vfs = [h["bdf"] for d in hv().values() for h in d.get("hostdevs", [])]
    check(len(set(host_vfs)) == 3, "no VF in two VMs: %r" % host_vfs)
    v, kv = words(c1.ask("esfm1 s1 status"))
    check(v == "ok" and kv["vfs"] == "2" and kv["bdfs"].count("/attached/10") == 2, "status %r" % kv)
    v, kv = words(c1.ask("esfm1 s2 pause-state bdf=" + bdfs[0]))
    check(v == "ok" and kv["state"] == "attached", "pause-state %r" % kv)
    check(words(c2.ask("esfm1 d1 job-detach job=10"))[0] == "ok", "vm2 job-detach")
    check(guests("vm2") == [] and guests("vm1") == bdfs, "vm2's detach leaves vm1's job alone")
    check(words(c2.ask("esfm1 d2 job-detach job=10"))[0] == "ok", "job-detach is idempotent")
    c1.close()
    c2.close()
    return bdfs


def test_bad_input(vm1_bdfs):
    c = Chan("vm1")
    expect_err(c, "hello", "EPROTONOSUPPORT", "no version")
    expect_err(c, "esfm2 x1 hello", "EPROTONOSUPPORT", "unknown version")
    expect_err(c, "esfm1 x2 frobnicate", "EINVAL", "unknown verb")
    expect_err(c, "esfm1 x3 job-attach job=11 vfs=zz", "EINVAL", "non-numeric vfs")
    expect_err(c, "esfm1 x4 job-attach job=../x vfs=1", "EINVAL", "bad job id")
    expect_err(c, "esfm1 x5 job-attach job=11 vfs=1 uid=\x01", "EINVAL", "control byte")
    expect_err(c, "\xff\xfe garbage", "EINVAL", "binary garbage")
    expect_err(c, "esfm1 x7 job-attach job=11 vfs=2", "EACCES", "over --max-vfs-per-vm")
    expect_err(c, "esfm1 x8 job-attach job=11 vfs=1 bitstream=evil", "EACCES",
               "bitstream not allowed")
    c2 = Chan("vm2")
    expect_err(c2, "esfm1 x6 job-attach job=11 vfs=3", "EACCES", "over the policy's per-job cap")
    before = snapshot()
    check(words(c2.ask("esfm1 y1 job-detach job=10"))[0] == "ok" and snapshot() == before,
          "vm2 cannot release vm1's job 10 (its job ids are its own)")
    expect_err(c2, "esfm1 y2 pause-state bdf=" + vm1_bdfs[1], "ENOENT", "another VM's VF")
    c3 = Chan("vm3")
    expect_err(c3, "esfm1 z1 job-attach job=5 vfs=1", "ESRCH", "domain not running")
    # Oversized: one E2BIG for the whole line, then the connection goes on.
    expect_err(c, "esfm1 o1 status " + "k=" + "v" * 3000, "E2BIG", "oversized line")
    # Slow byte-at-a-time, within the read time-out: served; other VMs are answered meanwhile.
    slow = "esfm1 s9 hello\n"
    for i, ch in enumerate(slow):
        c.send(ch)
        if i == 5:
            check(words(c2.ask("esfm1 y3 hello"))[0] == "ok", "vm2 answered while vm1 trickles")
        time.sleep(0.02)
    check(words(c.line())[0] == "ok", "a slow but timely line is served")
    # Truncated and then silent: ETIMEDOUT after the read time-out; another VM served meanwhile.
    c.send("esfm1 t1 job-att")
    check(words(c2.ask("esfm1 y4 status"))[0] == "ok", "vm2 answered while vm1's line hangs")
    expect_err(c, None, "ETIMEDOUT", "truncated line (time-out)")
    # Truncated by a closed connection: nothing happens.
    before = snapshot()
    t = Chan("vm1")
    t.send("esfm1 t2 job-attach job=12 vf")
    t.close()
    check(words(c.ask("esfm1 t3 hello"))[0] == "ok" and snapshot() == before,
          "truncated by close: nothing changed")
    for x in (c, c2, c3):
        x.close()


def test_concurrent_requests_of_one_vm():
    """Two connections of vm1 ask at once for 1 VF each; vm1 holds 2 of its cap of 3: exactly one
    may win, whatever the order, and neither is lost."""
    conns = [Chan("vm1"), Chan("vm1")]
    replies = [None, None]

    def ask(i):
        replies[i] = conns[i].ask("esfm1 c%d job-attach job=%d vfs=1" % (i, 20 + i))

    th = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join(60)
    verdicts = sorted(r.split(" ")[2] + ("" if r.split(" ")[2] == "ok" else " " + r.split(" ")[3])
                      for r in replies)
    check(verdicts == ["err EACCES", "ok"], "one concurrent request wins: %r" % replies)
    check(len(guests("vm1")) == 3, "vm1 holds its cap")
    for i in range(2):
        check(words(conns[i].ask("esfm1 e%d job-detach job=%d" % (i, 20 + i)))[0] == "ok", "detach")
        conns[i].close()
    print("ok: concurrent requests of one VM serialised: %r" % replies, flush=True)


def test_pinned_guest_addresses_survive_pause_by_detach():
    """VFs sit at the reserved guest buses 0x10-0x13; QEMU without device_pause makes esfm pause
    detach the VF, and unpause brings it back at the same guest address."""
    with open(HV) as f:
        st = json.load(f)
    st["domains"]["vm2"]["device_pause"] = False
    with open(HV, "w") as f:
        json.dump(st, f)
    sub_log = open(os.path.join(T, "mqtt.log"), "w")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", MQTT["port"], "-v", "-t",
                            "kfarm/accel/node2/#"], stdout=sub_log)
    c = Chan("vm2")
    v, kv = words(c.ask("esfm1 g1 job-attach job=50 vfs=2"))
    check(v == "ok", "job-attach %r" % kv)
    bdfs = sorted(kv["bdfs"].split(","))
    check(all(0x10 <= int(b.split(":")[1], 16) <= 0x13 and b.endswith(":00.0") for b in bdfs),
          "guest addresses on the reserved buses: %r" % bdfs)
    host = {h["guest"]: h["bdf"] for h in hv()["vm2"]["hostdevs"]}
    for g in bdfs:
        esfm("pause", host[g])
        check(g not in guests("vm2"), "pause fell back to detach of %s" % g)
        esfm("unpause", host[g])
        check(guests("vm2") == bdfs, "unpause re-attached at %s: %r" % (g, guests("vm2")))
    # One VF identity: the VM's Slurm node and the guest address, for attach, pause and unpause
    # alike (esfm pause reads the node from the nodes.json esfmd wrote).
    def seen(topic, states):
        got = [ln.split(" ", 1)[1] for ln in open(os.path.join(T, "mqtt.log"))
               if ln.split(" ", 1)[0] == topic]
        # the broker's retained message of an earlier test may come first
        return [json.loads(x)["state"] for x in got][-len(states):] == states

    for g in bdfs:
        wait_until(lambda: seen("kfarm/accel/node2/" + g, ["active", "paused", "active"]), 20,
                   "kfarm/accel/node2/%s active, paused, active" % g)
    check(words(c.ask("esfm1 g2 job-detach job=50"))[0] == "ok", "detach")
    wait_until(lambda: seen("kfarm/accel/node2/" + bdfs[0], ["active", "paused", "active",
                                                              "detached"]), 20, "detached")
    sub.terminate()
    sub.wait()
    c.close()
    st["domains"]["vm2"]["device_pause"] = True
    with open(HV, "w") as f:
        json.dump(st, f)
    print("ok: pinned guest addresses %r kept across pause by detach" % bdfs, flush=True)


def set_running(dom, running):
    with open(HV) as f:
        st = json.load(f)
    st["domains"][dom]["running"] = running
    with open(HV + ".tmp", "w") as f:
        json.dump(st, f)
    os.rename(HV + ".tmp", HV)


def test_stopped_domain_is_released():
    c = Chan("vm2")
    check(words(c.ask("esfm1 r1 job-attach job=30 vfs=2"))[0] == "ok", "vm2 job 30")
    # FAKE 'domain stopped' notification: the fake hypervisor says vm2 stopped, and QEMU's end of
    # the channel goes away.
    set_running("vm2", False)
    c.close()
    def released():
        st = json.load(open(os.path.join(STATE, "vfs.json")))
        return guests("vm2") == [] and not any(
            j["job"].startswith("vm2.") for r in st["vfs"].values() for j in r["jobs"])

    wait_until(released, 20, "esfmd to release stopped vm2's VFs and forget its jobs")
    check(len(guests("vm1")) == 2, "vm1's VFs untouched")
    set_running("vm2", True)
    print("ok: stopped domain released", flush=True)


def consistent():
    """Every hostdev of a VM is recorded for that VM and vice versa; nothing pending."""
    st = json.load(open(os.path.join(STATE, "vfs.json")))["vfs"]
    held = {h["bdf"]: d for d, v in hv().items() for h in v.get("hostdevs", [])}
    recs = {b: r["domain"] for b, r in st.items()}
    pend = [b for b, r in st.items() if r.get("pending")]
    journal = os.listdir(os.path.join(STATE, "journal"))
    return held == recs and not pend and not journal, (held, recs, pend, journal)


def test_restart_mid_attach():
    """esfmd killed after each step of a job-attach: on restart the journal is repaired (rolled
    back, or kept when it had completed) and a new attach works."""
    for k in range(1, 12):
        start({"ESFM_TEST_CRASH_AFTER_STEP": str(k)})
        c = Chan("vm2")
        c.send("esfm1 k%d job-attach job=40 vfs=2\n" % k)
        reply = c.line_or_eof()
        if reply is not None:  # the attach has fewer than k steps: it completed
            check(words(reply)[0] == "ok", "attach completed without a kill: %r" % reply)
            c.close()
            stop()
            start()
            c = Chan("vm2")
            check(words(c.ask("esfm1 j%d job-detach job=40" % k))[0] == "ok", "detach")
            c.close()
            stop()
            check(consistent()[0] and guests("vm2") == [], "all released")
            print("ok: job-attach and job-detach have fewer than %d steps" % k, flush=True)
            break
        c.close()
        check(daemon.wait(timeout=30) == -signal.SIGKILL, "esfmd killed itself at step %d" % k)
        start()
        ok, why = consistent()
        check(ok, "after a kill at step %d the journal repaired everything: %r" % (k, why))
        c = Chan("vm2")
        v, kv = words(c.ask("esfm1 n%d job-attach job=40 vfs=2" % k))
        check(v == "ok" and len(guests("vm2")) == 2, "attach after restart at step %d: %r" % (k, kv))
        check(words(c.ask("esfm1 m%d job-detach job=40" % k))[0] == "ok", "detach")
        c.close()
        stop()
        print("ok: killed at step %d, repaired" % k, flush=True)


def main():
    for p in (ESFMD, FAKE_TREE, ESFM):
        if not os.access(p, os.X_OK):
            fail("%s missing: build kfarm first (scripts/build)" % p)
    try:
        MQTT["port"] = start_mosquitto(os.path.join(T, "mqtt-broker"))
        MQTT["url"] = "tcp://127.0.0.1:" + MQTT["port"]
        setup()
        start()
        bdfs = test_normal_requests()
        test_bad_input(bdfs)
        test_concurrent_requests_of_one_vm()
        test_pinned_guest_addresses_survive_pause_by_detach()
        test_stopped_domain_is_released()
        stop()
        test_restart_mid_attach()
        print("PASS")
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
        if "port" in MQTT:
            stop_mosquitto(os.path.join(T, "mqtt-broker"))
        log = os.path.join(T, "esfmd.log")
        if os.path.exists(log):
            print("--- esfmd log (tail)\n" + "".join(open(log).readlines()[-30:]))
        if os.environ.get("ESFMD_TEST_KEEP"):
            print("kept " + T)
        else:
            shutil.rmtree(T, ignore_errors=True)


if __name__ == "__main__":
    main()
