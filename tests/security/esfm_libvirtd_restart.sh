#!/usr/bin/env bash
# Fault: libvirtd restarted (SIGKILL, or SIGTERM as `systemctl restart` sends) while an esfm attach,
# detach, job-attach, job-detach, pause or reconf is in the middle of its work. A REAL libvirtd
# started here, in a private mount namespace (tmpfs over libvirt's run/state/config dirs, so a
# system libvirtd or another test's is never touched); a persistent, shut-off q35 domain whose
# CONFIG gets the hostdevs (real libvirt attach/detach; live passthrough needs VFIO, which this
# machine lacks); the PF/VF sysfs tree is FAKE (fake-tree). esfm stops itself right inside the
# operation (ESFM_TEST_STOP_AFTER_STEP=k, SIGSTOP), libvirtd is restarted, then esfm continues on
# its dead connection. Checked: exit 6 with a message that says the connection was lost and the
# journal keeps the operation; `esfm status` lists it as interrupted; the next command repairs it;
# the domain XML, esfm list-vfs/list-vf-vm and the records agree, and a new attach works.
set -euo pipefail
if [ -z "${ESFM_FAULT_NS:-}" ]; then
    if ! unshare --mount --propagation private true 2>/dev/null; then
        echo "FAIL: no mount namespace for the private libvirtd: unshare --mount needs root" \
            "(CAP_SYS_ADMIN), as scripts/test runs; install util-linux if unshare is missing"
        exit 1
    fi
    exec unshare --mount --propagation private env ESFM_FAULT_NS=1 "$0" "$@"
fi
. "$(dirname "$0")/../esfm/cli_lib.sh"
PATH=$PATH:/usr/sbin
URI=qemu:///system
DOM=esfm-fault-$$
LPID= EPID=
cleanup() {
    local rc=$?
    # a background job killed before it exec'd runs this trap too: leave the cleanup to us
    [[ $BASHPID == "$$" ]] || return 0
    if [ -n "$EPID" ]; then kill -9 "$EPID" 2>/dev/null || true; fi # a stopped esfm
    if [ -n "$LPID" ]; then kill -9 "$LPID" 2>/dev/null || true; wait "$LPID" 2>/dev/null || true; fi
    if [ $rc != 0 ]; then
        echo "--- libvirtd log:" >&2
        tail -20 "$T/libvirtd.log" >&2 || true
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /etc/libvirt/qemu /var/log/libvirt; do
    mkdir -p $d
    mount -t tmpfs -o mode=0755 esfm-fault $d
done

start_libvirtd() {
    libvirtd -p "$T/libvirtd.pid" >>"$T/libvirtd.log" 2>&1 &
    LPID=$!
    for _ in $(seq 200); do
        virsh -c $URI version >/dev/null 2>&1 && return 0
        kill -0 $LPID 2>/dev/null || break
        sleep 0.05
    done
    fail "libvirtd did not answer within 10 s"
}
restart_libvirtd() { # restart_libvirtd KILL|TERM
    kill -"$1" $LPID
    wait $LPID 2>/dev/null || true
    start_libvirtd
}
ESFM_ARGS=(--sysfs-root "$T/sys" --state-dir "$T/state" --connect $URI --parallel 1)
lvesfm() { "$B/esfm-fakekernel" "${ESFM_ARGS[@]}" "$@"; }
# hostdevs of the domain's persistent config, as libvirt reports them: "bdf=alias ..."
dom_hostdevs() {
    virsh -c $URI dumpxml --inactive $DOM | /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as E
d = E.fromstring(sys.stdin.read())
out = []
for h in d.iter("hostdev"):
    a = h.find("source/address")
    bdf = "%04x:%02x:%02x.%x" % tuple(int(a.get(k), 16) for k in ("domain", "bus", "slot", "function"))
    al = h.find("alias")
    out.append(bdf + "=" + (al.get("name") if al is not None else ""))
print(" ".join(sorted(out)))'
}
records() { [ -s "$T/state/vfs.json" ] && json 'print(" ".join(sorted(d["vfs"])))' <"$T/state/vfs.json" || true; }
pending() { lvesfm status --json | json 'print(" ".join("%s:%s" % (p["op"], "running" if p["running"] else "interrupted") for p in d["pending"]))'; }

# run_interrupted STEP SIGNAL CMD...: esfm CMD stops after STEP, libvirtd is restarted with
# SIGNAL, esfm continues; prints esfm's exit code and message to $T/out.
run_interrupted() {
    local step=$1 sig=$2; shift 2
    # exec: $! is esfm itself, whose state (T = stopped) the test reads
    (ESFM_TEST_STOP_AFTER_STEP=$step exec "$B/esfm-fakekernel" "${ESFM_ARGS[@]}" "$@" >"$T/out" 2>&1) &
    local pid=$!
    EPID=$pid
    for _ in $(seq 200); do
        [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] || {
        cat "$T/out" >&2; fail "esfm $* did not stop after step $step"; }
    grep -q "test stop after step $step" "$T/out" || fail "esfm $*: no stop message: $(cat "$T/out")"
    # (not `esfm status`: job-detach holds the state lock for its whole run)
    [ "$(ls "$T/state/journal" | grep -c '\.json$')" = 1 ] || fail "esfm $*: no journal entry while stopped"
    local t0=$SECONDS
    restart_libvirtd "$sig"
    kill -CONT $pid
    set +e; wait $pid; RC=$?; set -e
    EPID=
    echo "  esfm $* (libvirtd restarted with SIG$sig after step $step): exit $RC in $((SECONDS - t0)) s"
    echo "  message: $(grep -v 'test stop' "$T/out")"
}
expect_lost_error() { # the operation failed clearly and left its journal entry for repair
    [ "$RC" = 6 ] || fail "want exit 6 (hypervisor error), got $RC: $(cat "$T/out")"
    grep -q "connection to libvirtd was lost" "$T/out" || fail "message does not say why: $(cat "$T/out")"
    grep -q "next esfm command" "$T/out" || fail "message does not say what happens next: $(cat "$T/out")"
    [ "$(pending)" = "$1:interrupted" ] || fail "after the failure, status shows '$(pending)', want $1:interrupted"
}

start_libvirtd
tcg_domain_xml $DOM >"$T/dom.xml"
virsh -c $URI define "$T/dom.xml" >/dev/null
new_env true
esfm init $PF --vfs 3 >/dev/null
A0=$VF0=ua-kfarm-0000-01-00-1 A1=$VF1=ua-kfarm-0000-01-00-2 A2=$VF2=ua-kfarm-0000-01-00-3

# 1. attach, libvirtd killed (crash) between the reservation and libvirt's attach call
echo "1. attach $VF0 $DOM; libvirtd SIGKILLed and started again mid-operation"
run_interrupted 2 KILL attach $VF0 $DOM
expect_lost_error attach
lvesfm list-vfs >"$T/repair" 2>&1 || fail "repairing run failed: $(cat "$T/repair")"
grep -q "repair: rolled back interrupted attach of $VF0" "$T/repair" || fail "no repair: $(cat "$T/repair")"
[ "$(pending)" = "" ] || fail "journal not repaired: $(pending)"
[ "$(dom_hostdevs)" = "" ] || fail "domain XML after repair: $(dom_hostdevs)"
[ "$(records)" = "" ] || fail "records after repair: $(records)"
lvesfm attach $VF0 $DOM >/dev/null || fail "attach after the repair failed"
[ "$(dom_hostdevs)" = "$A0" ] || fail "domain XML after a new attach: $(dom_hostdevs)"
echo "ok: attach failed clearly (exit 6), journal repaired by the next command, new attach works"

# 2. detach, libvirtd restarted (SIGTERM) before libvirt's detach call
echo "2. detach $VF0; libvirtd SIGTERMed and started again mid-operation"
run_interrupted 1 TERM detach $VF0
expect_lost_error detach
lvesfm reconcile >"$T/repair" 2>&1 || fail "reconcile failed: $(cat "$T/repair")"
grep -q "repair: finished interrupted detach of $VF0" "$T/repair" || fail "no repair: $(cat "$T/repair")"
[ "$(pending)" = "" ] || fail "journal not repaired: $(pending)"
[ "$(dom_hostdevs)" = "" ] || fail "domain XML after repair: $(dom_hostdevs)"
[ "$(records)" = "" ] || fail "records after repair: $(records)"
echo "ok: detach failed clearly, rolled forward by the next command: VF out of the domain"

# 3. job-attach of 2 VFs: the first VF really attached (in libvirt's config), libvirtd killed
#    before the second: half done, the rollback cannot run on the dead connection
echo "3. job-attach job42 $DOM 2; libvirtd SIGKILLed after the first VF's attach"
# steps: 1 journal intent, 2 job VFs reserved, 3 hypervisor attach of the first VF
run_interrupted 3 KILL job-attach job42 $DOM 2 --uid 1000
expect_lost_error job-attach
half=$(dom_hostdevs)
[ "$half" = "$A0" ] || [ "$half" = "$A1" ] || fail "want one VF in the domain (half done), got '$half'"
[ "$(records | wc -w)" = 2 ] || fail "want both VFs still recorded (pending) before repair: $(records)"
lvesfm list-vf-vm >"$T/repair" 2>&1 || fail "repairing run failed: $(cat "$T/repair")"
grep -q "repair: rolled back .* of interrupted attach for job job42" "$T/repair" || fail "no repair: $(cat "$T/repair")"
[ "$(pending)" = "" ] || fail "journal not repaired: $(pending)"
[ "$(dom_hostdevs)" = "" ] || fail "domain XML after repair: $(dom_hostdevs)"
[ "$(records)" = "" ] || fail "records after repair: $(records)"
lvesfm list-vfs --json | json 'assert all(v["state"] == "free" for v in d), d'
lvesfm job-attach job43 $DOM 2 --uid 1000 >/dev/null || fail "job-attach after the repair failed"
[ "$(dom_hostdevs)" = "$A0 $A1" ] || fail "domain XML after a new job-attach: $(dom_hostdevs)"
lvesfm list-vf-vm --json | json 'assert sorted(x["vf"] for x in d if x["vm"]=="'$DOM'")==["'$VF0'","'$VF1'"], d'
lvesfm list-vfs --json | json 'assert sorted((v["vf"], v["state"], v["job"]) for v in d if v["vm"])==[("'$VF0'","attached","job43"),("'$VF1'","attached","job43")], d'
echo "ok: half-done job-attach rolled back from the journal; domain XML, records and listings agree"

# 4. job-detach: libvirtd restarted before libvirt's first detach call
echo "4. job-detach job43; libvirtd SIGTERMed and started again mid-operation"
run_interrupted 1 TERM job-detach job43
expect_lost_error job-detach
lvesfm list-vfs >"$T/repair" 2>&1 || fail "repairing run failed: $(cat "$T/repair")"
[ "$(pending)" = "" ] || fail "journal not repaired: $(pending)"
[ "$(dom_hostdevs)" = "" ] || fail "domain XML after repair: $(dom_hostdevs)"
[ "$(records)" = "" ] || fail "records after repair: $(records)"
echo "ok: job-detach rolled forward by the next command: both VFs out of the domain, records gone"

# 5. pause: libvirtd restarted between the journal intent and the QMP device_pause call. (The
#    domain is shut off, so QMP itself cannot succeed here: this checks the lost connection's
#    handling and the rollback, not the pause, which tests/qemu checks on a running guest.)
echo "5. pause $VF0; libvirtd SIGKILLed and started again before QMP device_pause"
lvesfm attach $VF0 $DOM >/dev/null || fail "attach before pause failed"
run_interrupted 1 KILL pause $VF0
expect_lost_error pause
lvesfm reconcile >"$T/repair" 2>&1 || fail "repairing run failed: $(cat "$T/repair")"
grep -q "repair: rolled back interrupted pause of $VF0 in $DOM" "$T/repair" || fail "no repair: $(cat "$T/repair")"
[ "$(pending)" = "" ] || fail "journal not repaired: $(pending)"
[ "$(dom_hostdevs)" = "$A0" ] || fail "domain XML after repair: $(dom_hostdevs)"
lvesfm list-vfs --json | json 'assert [(v["vf"], v["state"]) for v in d if v["vm"]]==[("'$VF0'","attached")], d'
echo "ok: pause failed clearly, rolled back by the next command: $VF0 attached and not paused"

# 6. reconf 3 -> 1 VFs with VF0 and VF1 in the (shut-off) domain's config: VF1 goes away, so it
#    must leave the domain first; libvirtd restarted before that detach. Steps: 1 journal
#    intent, 2 rescan, 3 hypervisor detach of VF1.
echo "6. reconf $PF 1; libvirtd SIGTERMed and started again before $VF1 leaves $DOM"
lvesfm attach $VF1 $DOM >/dev/null || fail "attach of $VF1 before reconf failed"
[ "$(dom_hostdevs)" = "$A0 $A1" ] || fail "domain XML before reconf: $(dom_hostdevs)"
run_interrupted 2 TERM reconf $PF 1
expect_lost_error reconf
[ "$(cat "$T/sys/bus/pci/devices/$PF/sriov_numvfs")" = 3 ] || fail "VF count changed although reconf failed"
lvesfm list-vfs >"$T/repair" 2>&1 || fail "repairing run failed: $(cat "$T/repair")"
grep -q "repair: finished interrupted reconf of $PF" "$T/repair" || fail "no repair: $(cat "$T/repair")"
[ "$(pending)" = "" ] || fail "journal not repaired: $(pending)"
[ "$(cat "$T/sys/bus/pci/devices/$PF/sriov_numvfs")" = 1 ] || fail "reconf not finished: $(cat "$T/sys/bus/pci/devices/$PF/sriov_numvfs") VFs"
[ "$(dom_hostdevs)" = "$A0" ] || fail "domain XML after repair: $(dom_hostdevs) (want only the surviving $VF0)"
[ "$(records)" = "$VF0" ] || fail "records after repair: $(records)"
lvesfm list-vfs --json | json 'assert [(v["vf"], v["state"]) for v in d]==[("'$VF0'","attached")], d'
echo "ok: reconf failed clearly, rolled forward by the next command: 1 VF, $VF1 out of the domain"
echo PASS
