#!/usr/bin/env bash
# ESFM against a real libvirtd: starts virtlogd and libvirtd unless one already answers (and
# stops only what it started), runs a q35 TCG VM with no disk under qemu:///system, then checks
# domain lookup, the PCI attach error and its rollback, and the device_pause -> CommandNotFound
# -> detach/attach decision (libvirtd-probe), plus the same through the esfm CLI.
# libvirtd that cannot start is a failure that says what to install (scripts/setup does).
. "$(dirname "$0")/cli_lib.sh"
PATH=$PATH:/usr/sbin
URI=qemu:///system
DOM=esfm-test-$$
started=()
cleanup() {
    # a background job killed before it exec'd runs this trap too: leave the cleanup to us
    [[ $BASHPID == "$$" ]] || return 0
    local qpid
    qpid=$(cat /run/libvirt/qemu/$DOM.pid 2>/dev/null || true)
    virsh -c $URI destroy $DOM >/dev/null 2>&1 || true
    # If libvirtd could not destroy it, the QEMU process of our VM is still ours to stop.
    if [ -n "$qpid" ] && grep -q "guest=$DOM," /proc/$qpid/cmdline 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
    fi
    for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${started[@]}"; do # bounded wait for our daemons to exit (zombie = exited)
        for _ in $(seq 100); do
            st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
            [ -z "$st" ] || [ "${st#Z}" != "$st" ] && break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# Started in the foreground and put in the background here, so that $! is exactly our daemon:
# if another one is already running, ours exits at once and the other one is used, not killed.
if ! virsh -c $URI version >/dev/null 2>&1; then
    if ! alive /run/virtlogd.pid; then
        virtlogd >"$T/virtlogd.log" 2>&1 &
        started+=($!)
    fi
    libvirtd >"$T/libvirtd.log" 2>&1 &
    lpid=$!
    started+=($lpid)
    for _ in $(seq 150); do
        virsh -c $URI version >/dev/null 2>&1 && break
        kill -0 $lpid 2>/dev/null || alive /run/libvirtd.pid || break
        sleep 0.1
    done
    if ! virsh -c $URI version >/dev/null 2>&1; then
        tail -5 "$T/libvirtd.log"
        fail "libvirtd cannot start here (log above): apt-get install libvirt-daemon-system" \
            "qemu-system-x86 (scripts/setup does); this test needs a real libvirtd"
    fi
fi
virsh -c $URI version >/dev/null || fail "libvirtd started but qemu:///system does not answer"
tcg_domain_xml $DOM >"$T/dom.xml"
virsh -c $URI create "$T/dom.xml" >/dev/null || fail "cannot start a TCG VM"
for _ in $(seq 100); do
    [ "$(virsh -c $URI domstate $DOM 2>/dev/null)" = running ] && break; sleep 0.1
done
new_env true
esfm init $PF --vfs 2 >/dev/null
lvesfm() { "$B/esfm-fakekernel" --sysfs-root "$T/sys" --state-dir "$T/state" --connect $URI "$@"; }
set +e
out=$(lvesfm attach $VF0 esfm-no-such-vm 2>&1); rc=$?
[ $rc = 4 ] || fail "missing VM: exit $rc: $out"
out=$(lvesfm attach $VF0 $DOM 2>&1); rc=$?
set -e
[ $rc = 6 ] || fail "attach: exit $rc: $out"
grep -q "host doesn't support passthrough of host PCI devices" <<<"$out" || fail "attach: $out"
lvesfm status --json | json 'assert d["pending"]==[], d'
[ ! -s "$T/state/vfs.json" ] || json 'assert d["vfs"]=={}, d' <"$T/state/vfs.json"
lvesfm list-vf-vm --json | json 'assert not [x for x in d if x["vm"]=="'$DOM'"], d'
echo "ok: CLI lookup, attach error (exit 6) and rollback"
"$B/libvirtd-probe" $URI $DOM "$T/sys" "$T/state2"
