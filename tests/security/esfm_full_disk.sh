#!/usr/bin/env bash
# ESFM with a full disk in its state dir (a 256 KiB tmpfs filled up):
# 1. before an attach: it fails with a clear error, leaves no half-written journal or state file,
#    changes no VM; once space is back the next command works and nothing is pending;
# 2. in the middle of an attach, a 2-VF job-attach and a 3 -> 2 reconf that moves VMs' VFs: the
#    operation is stopped after its step k (ESFM_TEST_STOP_AFTER_STEP), the disk filled, the
#    operation let go on, for every k until it completes. It finishes or fails saying "No space";
#    then with space back `esfm reconcile` repairs what it kept, and nothing is leaked (a VF in a
#    VM without a record, a removed VF still in a VM, a lock or temporary file) or lost (a record
#    whose VF is in no VM, a reconf's VF left paused or detached), and the operation is all or
#    nothing.
# FAKE kernel and hypervisor (tests/esfm/cli_lib.sh); the tmpfs is real (needs root, as CI has).
. "${KFARM_SOURCE_DIR:?}/tests/esfm/cli_lib.sh"
trap 'umount "$T/state" 2>/dev/null; rm -rf "$T"' EXIT

fresh() { # a new FAKE tree and VMs, and an empty 256 KiB tmpfs as the state dir
    umount "$T/state" 2>/dev/null || true
    new_env
    mkdir -p "$T/state"
    mount -t tmpfs -o size=256k,mode=0700 tmpfs "$T/state"
}
fill() { dd if=/dev/zero of="$T/state/fill" bs=4k >/dev/null 2>&1 || true; } # ENOSPC ends it

# Every VF in a VM has its record (same VM, not pending, not paused-by-detach) and exists; every
# record's VF is in its VM unless paused by detach; nothing pending; no litter in journal/.
# Leaves the listings in $vm and $vfs for the checks that follow.
consistent() {
    vm=$(esfm list-vf-vm --json) vfs=$(esfm list-vfs --json)
    esfm status --json | json 'assert d["pending"]==[], d'
    [ -z "$(ls -A "$T/state/journal")" ] || fail "journal litter: $(ls -A "$T/state/journal")"
    /usr/bin/python3 - "$T/state/vfs.json" "$vm" "$vfs" <<'PY' || fail "inconsistent after repair"
import json, os, sys
recs = json.load(open(sys.argv[1]))["vfs"] if os.path.exists(sys.argv[1]) else {}
vm = {}
for h in json.loads(sys.argv[2]):
    assert h["vf"] not in vm, f"{h['vf']} in two VMs"
    vm[h["vf"]] = h["vm"]
exists = {v["vf"] for v in json.loads(sys.argv[3])}
for vf, dom in vm.items():
    assert vf in exists, f"removed VF {vf} still in {dom}"
    r = recs.get(vf)
    assert r and r.get("domain") == dom, f"{vf} in {dom} without its record (leaked): {r}"
    assert r.get("paused") != "detach", f"{vf} in {dom} but recorded as detached"
for vf, r in recs.items():
    assert not r.get("pending"), f"{vf} still pending: {r}"
    if r.get("paused") == "detach":
        assert vf not in vm, f"{vf} recorded paused by detach but in {vm[vf]}"
    else:
        assert vm.get(vf) == r.get("domain"), f"{vf} recorded for {r.get('domain')} but in {vm.get(vf)} (lost)"
PY
}

# stop_fill_go K args...: runs esfm args, stopped after step K; fills the disk there and lets it go
# on. Returns 0 when it stopped there (out, rc set), 1 when it completed before step K.
stop_fill_go() {
    local k=$1; shift
    ESFM_TEST_STOP_AFTER_STEP=$k "$B/esfm-fakekernel" --sysfs-root "$T/sys" --state-dir "$T/state" \
        --connect "fake://$T/hv.json" "$@" >"$T/out" 2>&1 &
    local pid=$! state=""
    for _ in $(seq 600); do # bounded: 30 s
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        case $state in T|Z|gone) break ;; esac
        sleep 0.05
    done
    if [ "$state" != T ]; then
        set +e; wait $pid; rc=$?; set -e
        [ $rc = 0 ] || fail "esfm $* failed without a fault: $(cat "$T/out")"
        return 1
    fi
    fill
    kill -CONT $pid
    set +e; wait $pid; rc=$?; set -e
    out=$(cat "$T/out")
    rm -f "$T/state/fill"
    [ $rc = 0 ] || grep -q "No space" <<<"$out" ||
        fail "esfm $* (disk filled after step $k) exited $rc without saying why: $out"
    return 0
}

# at_every_step NAME SETUP CHECK args...
at_every_step() {
    local name=$1 setup=$2 check=$3 k=1 failed=0; shift 3
    while :; do
        fresh
        $setup
        stop_fill_go $k "$@" || break
        [ $rc = 0 ] || failed=$((failed + 1))
        esfm reconcile >/dev/null || fail "$name: reconcile after step $k failed"
        consistent
        $check || fail "$name: disk filled after step $k: not all or nothing"
        k=$((k + 1))
    done
    [ $k -gt 3 ] || fail "$name: only $((k - 1)) steps"
    echo "ok: $name: disk full after each of $((k - 1)) steps ($failed failed with ENOSPC), repaired, consistent"
}

vm_of() { json "print(next((h['vm'] for h in d if h['vf']=='$1'), '-'))" <<<"$vm"; }
numvfs() { cat "$T/sys/bus/pci/devices/$PF/sriov_numvfs"; }

attach_setup() { esfm init $PF --vfs 3 >/dev/null; esfm attach $VF0 vm1 >/dev/null; }
attach_check() { [ "$(vm_of $VF0)" = vm1 ] && [[ "$(vm_of $VF1)" =~ ^(vm2|-)$ ]]; }

job_setup() { esfm init $PF --vfs 3 >/dev/null; }
job_check() { # both VFs in vm1 for J1, or none anywhere
    local n
    n=$(json 'print(sum(1 for v in d if v["job"]=="J1" and v["vm"]=="vm1"))' <<<"$vfs")
    [ "$n" = 2 ] || { [ "$n" = 0 ] && [ "$(json 'print(len(d))' <<<"$vm")" = 0 ]; }
}

reconf_setup() {
    esfm init $PF --vfs 3 >/dev/null
    esfm attach $VF0 vm1 >/dev/null; esfm attach $VF1 vm2 >/dev/null; esfm attach $VF2 vm2 >/dev/null
}
reconf_check() { # put back (3 VFs, all in their VMs, running) or done (2, VF2 gone)
    local paused
    paused=$(json 'print(sum(1 for v in d if v["state"]!="attached"))' <<<"$vfs")
    [ "$(vm_of $VF0)" = vm1 ] && [ "$(vm_of $VF1)" = vm2 ] || return 1
    if [ "$(numvfs)" = 3 ]; then
        [ "$(vm_of $VF2)" = vm2 ] && [ "$paused" = 0 ]
    else
        [ "$(numvfs)" = 2 ] && [ "$(vm_of $VF2)" = - ] && [ "$paused" = 0 ]
    fi
}

# 1. full before the operation
fresh
attach_setup
before_vms=$(md5sum <"$T/hv.json")
before_state=$(md5sum <"$T/state/vfs.json")
fill
set +e
out=$(esfm attach $VF1 vm2 2>&1)
rc=$?
set -e
[ $rc != 0 ] || fail "attach succeeded with a full state dir"
echo "$out" | grep -qi "space\|$T/state" || fail "the error does not say what is wrong: $out"
[ "$(md5sum <"$T/hv.json")" = "$before_vms" ] || fail "a VM changed although the op failed"
[ "$(md5sum <"$T/state/vfs.json")" = "$before_state" ] || fail "vfs.json changed"
/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/state/vfs.json" ||
  fail "vfs.json is not valid JSON"
for j in "$T"/state/journal/*.json; do
  [ -e "$j" ] || continue
  /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$j" ||
    fail "half-written journal entry $j"
done
echo "full disk: attach refused (exit $rc): $(echo "$out" | head -1)"
rm -f "$T/state/fill"
consistent
esfm attach $VF1 vm2 >/dev/null || fail "attach failed after space came back"

# 2. full in the middle
at_every_step attach attach_setup attach_check attach $VF1 vm2
at_every_step job-attach job_setup job_check job-attach J1 vm1 2 --uid 1000
at_every_step reconf reconf_setup reconf_check reconf $PF 2
echo PASS
