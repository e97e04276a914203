#!/usr/bin/env bash
# esfm list-vf-vm and list-vfs through libvirt's test:/// driver with a node XML whose domains
# hold PCI hostdevs: the VF -> VM map comes from the domain XML (the truth).
. "$(dirname "$0")/cli_lib.sh"
new_env true
esfm init $PF --vfs 4 >/dev/null
node="${KFARM_SOURCE_DIR:?}/tests/esfm/test-node.xml"
lv() { "$B/esfm-fakekernel" --sysfs-root "$T/sys" --state-dir "$T/state" \
    --connect "test://$node" "$@"; }
lv list-vf-vm --json | json '
got=sorted((x["vm"],x["vf"],x["alias"],x["guest"]) for x in d)
want=[("vm-a","0000:01:00.1","ua-kfarm-0000-01-00-1","0000:00:07.0"),
      ("vm-a","0000:01:00.3","ua-kfarm-0000-01-00-3","0000:00:08.0"),
      ("vm-b","0000:01:00.2","ua-kfarm-0000-01-00-2",got[2][3])]
assert got==want, got'
lv list_vf_vm | grep -q "^0000:01:00.2 *vm-b" || fail "text listing"
lv list-vfs --json | json '
s={x["vf"]:(x["state"],x["vm"]) for x in d}
assert s=={"0000:01:00.1":("attached","vm-a"),"0000:01:00.2":("attached","vm-b"),
           "0000:01:00.3":("attached","vm-a"),"0000:01:00.4":("free","")}, s'
# the free VF is the one attach would pick; the test driver has no hostdev attach, which
# esfm reports as a hypervisor error (exit 6) and rolls back
set +e; out=$(lv attach vm-c 2>&1); rc=$?; set -e
[ $rc = 6 ] || fail "attach on test:/// exited $rc: $out"
grep -q "0000:01:00.4" <<<"$out" || fail "attach should have picked the free VF: $out"
lv status --json | json 'assert d["pending"]==[] and d["vfs"]=={"free":1,"attached":3,"paused":0}, d'
[ ! -s "$T/state/vfs.json" ] || json 'assert d["vfs"]=={}, d' <"$T/state/vfs.json"
set +e; out=$(lv attach 0000:01:00.4 nosuch 2>&1); rc=$?; set -e
[ $rc = 4 ] || fail "unknown VM on test:/// exited $rc: $out"
echo PASS
