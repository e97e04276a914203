#!/usr/bin/env bash
# ESFM with a full disk in its state dir (a 256 KiB tmpfs filled up): the operation fails with a
# clear error naming the state dir, leaves no half-written journal or state file, changes no VM;
# once space is back the next command works and nothing is pending. FAKE kernel and hypervisor
# (tests/esfm/cli_lib.sh); the tmpfs is real (needs root, as CI has).
. "${KFARM_SOURCE_DIR:?}/tests/esfm/cli_lib.sh"
new_env
mkdir -p "$T/state"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$T/state"
trap 'umount "$T/state" 2>/dev/null; rm -rf "$T"' EXIT
esfm init $PF --vfs 3 >/dev/null
esfm attach $VF0 vm1 >/dev/null
before_vms=$(md5sum <"$T/hv.json")
before_state=$(md5sum <"$T/state/vfs.json")
dd if=/dev/zero of="$T/state/fill" bs=4k >/dev/null 2>&1 || true   # ENOSPC ends it
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
for j in "$T"/state/journal/*; do
  [ -e "$j" ] || continue
  /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$j" ||
    fail "half-written journal entry $j"
done
echo "full disk: attach refused (exit $rc): $(echo "$out" | head -1)"
rm -f "$T/state/fill"
esfm list-vfs >/dev/null
esfm status --json | json 'assert d["pending"]==[], d'
esfm attach $VF1 vm2 >/dev/null || fail "attach failed after space came back"
echo PASS
