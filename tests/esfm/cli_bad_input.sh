#!/usr/bin/env bash
# esfm CLI: every bad input gets a clear message and its documented exit code, and changes
# nothing (tree, VMs, records, journal); then a good init/attach/list flow through the CLI.
. "$(dirname "$0")/cli_lib.sh"
new_env true
esfm init $PF --vfs 3 >/dev/null
esfm attach $VF0 vm1 >/dev/null
echo '{"vfs":{"per_job":2},"bitstream_dir":"'"$T"'","bitstreams":[{"name":"b","path":"'"$T"'/b.bit","sha256":"'"$(printf '%064d' 0)"'"}],"flash_command":["/bin/true"]}' >"$T/policy.json"
echo abc >"$T/b.bit"
chmod 644 "$T/policy.json"
before=$(snapshot)
expect 2 "no command given" esfm
expect 2 "unknown command 'frobnicate'" esfm frobnicate
expect 2 "unknown or incomplete option" esfm --bogus list-vfs
expect 2 "must be a whole number" esfm reconf $PF three
expect 2 "whole numbers >= 0" esfm reconf $PF -1
expect 2 "supports 0 to 8 VFs" esfm reconf $PF 9
expect 2 "takes 2 to 2 arguments" esfm reconf $PF
expect 4 "no PCI device 0000:09:00.0" esfm reconf 0000:09:00.0 2
expect 2 "is a VF of PF $PF, not a PF" esfm reconf $VF1 2
expect 2 "not an SR-IOV PF" esfm reconf 0000:00:02.0 2
expect 2 "is not a PCI address" esfm reconf 01:00 2
expect 4 "VM 'nosuchvm' not found" esfm attach $VF1 nosuchvm
expect 5 "already attached to VM vm1" esfm attach $VF0 vm2
expect 2 "is not a VF" esfm attach $PF vm2
expect 4 "is not attached to any VM" esfm detach $VF1
expect 2 "is not paused" esfm unpause $VF0
expect 3 "allows 2 per job" esfm --policy "$T/policy.json" job-attach 42 vm1 3
expect 3 "not allow-listed" esfm --policy "$T/policy.json" init $PF --bitstream nope
expect 3 "refusing to flash" esfm --policy "$T/policy.json" init $PF --bitstream b
expect 2 "name the PF" esfm init
expect 2 "fake URI wants an absolute path" esfm --connect fake://rel.json list-vf-vm
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect 6 "cannot connect to MQTT broker tcp://127.0.0.1:$port" esfm --mqtt tcp://127.0.0.1:$port list-vfs
expect 2 "--mqtt wants tcp://HOST:PORT" esfm --mqtt mqtt.example:1883 list-vfs
# --timeout is in seconds (ms by suffix); the old bare-milliseconds form is refused, not misread.
expect 2 "--timeout wants seconds" esfm --timeout 5000 list-vfs
expect 2 "--timeout wants seconds" esfm --timeout 10x list-vfs
expect 2 "--timeout wants seconds" esfm --timeout 0 list-vfs
esfm --timeout 500ms list-vfs >/dev/null || fail "--timeout 500ms refused"
esfm --timeout 2.5 list-vfs >/dev/null || fail "--timeout 2.5 refused"
[[ $(esfm --version) == "esfm "* ]] || fail "esfm --version: $(esfm --version 2>&1)"
chmod 664 "$T/policy.json"
expect 3 "not group/world-writable" esfm --policy "$T/policy.json" list-vfs
chmod 644 "$T/policy.json"
mkdir -p "$T/sys/bus/pci/devices/$VF0/kfarm"; echo "3 999" >"$T/sys/bus/pci/devices/$VF0/kfarm/busy"
before=$(snapshot)
expect 5 "busy: 3 active queue(s) held by pid 999" esfm detach $VF0
expect 5 "busy" esfm reconf $PF 2
esfm list-vfs --json | json 'v=[x for x in d if x["vf"]=="'$VF0'"][0]; assert v["busy"] and v["busy_queues"]==3 and v["state"]=="attached" and v["vm"]=="vm1", v'
esfm --force detach $VF0 >/dev/null
rm -r "$T/sys/bus/pci/devices/$VF0/kfarm"
# a PF without a driver: a sysfs-class error that says what to do
"$B/fake-tree" "$T/sys" pf 0000:02:00.0 4 - >/dev/null
before=$(snapshot)
expect 7 "no driver bound" esfm reconf 0000:02:00.0 2

# a corrupt state file: exit 8, nothing touched
cp "$T/state/vfs.json" "$T/vfs.json.bak"
echo '{"vfs": [corrupt' >"$T/state/vfs.json"
before=$(snapshot)
expect 8 "is corrupt" esfm attach vm1
mv "$T/vfs.json.bak" "$T/state/vfs.json"

# the good path, end to end through the CLI
esfm reconf $PF 2 | grep -q "3 -> 2 VFs" || fail "reconf report"
esfm attach vm2 | grep -q "attached $VF0 to vm2" || fail "attach report"
esfm list-vf-vm --json | json 'assert d==[{"vm":"vm2","vf":"'$VF0'","alias":"ua-kfarm-0000-01-00-1","guest":d[0]["guest"]}], d'
esfm list_vfs $PF --json | json 'assert [x["state"] for x in d]==["attached","free"], d'
esfm status --json | json 'assert d["pending"]==[] and d["vfs"]["attached"]==1, d'
esfm pause $VF0 | grep -q "paused $VF0" || fail "pause"
esfm status | grep -q "1 paused" || fail "status paused"
esfm unpause $VF0 >/dev/null
esfm job-attach 77 vm1 1 --uid 1000 --partition fpga | grep -q "^$VF1 ua-kfarm" || fail "job-attach"
esfm job-detach 77 >/dev/null
esfm job-detach 77 >/dev/null
stat -c %a "$T/state" | grep -qx 700 || fail "state dir mode"
echo PASS
