# Guest script: ESFM (esfm-guest, the CLI without libvirt, with its fake hypervisor standing in for
# VFIO passthrough) reads kfarm_vf's busy count: list-vfs shows it, and detach, reconf and pause of
# a busy VF are refused with exit 5 naming the VF and the holder's pid, until the holder is gone;
# reconf with a busy VF that is not attached is refused the same way (exit 5) and changes nothing.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no SR-IOV PF in the guest"
P=/sys/bus/pci/devices/$pf
insmod /kfarm/kfarm_vf.ko || kf_fail "insmod kfarm_vf.ko"
kf_bind "$pf" kfarm_pf || kf_fail "bind PF"
echo 3 >$P/sriov_numvfs || kf_fail "echo 3 > sriov_numvfs"
vf0=$(kf_vfs "$pf" | head -1)
kf_bind "$vf0" kfarm_vf || kf_fail "bind VF0"
cat >/tmp/policy.json <<JSON
{"pf_ids": ["$(cut -c3- $P/vendor):$(cut -c3- $P/device)"], "pf_driver": "kfarm_pf",
 "vf_driver": "kfarm_vf"}
JSON
chmod 644 /tmp/policy.json
echo '{"domains":{"vm1":{"device_pause":true}}}' >/tmp/hv.json
E="esfm-guest --state-dir /tmp/esfm --policy /tmp/policy.json --connect fake:///tmp/hv.json"

out=$($E attach "$vf0" vm1 2>&1) || kf_fail "esfm attach $vf0 vm1: $out"
kf_ok "$out"
kfarm-vf-hold -n 2 "$vf0" >/tmp/hold.out 2>&1 &
holder=$!
kf_wait_for 10 grep -q "^$vf0 2 $holder$" $P/kfarm/vf_busy || kf_fail "VF0 never busy"

out=$($E list-vfs --json) || kf_fail "esfm list-vfs: $out"
echo "$out" | tr -d ' \t\n' | grep -q "\"vf\":\"$vf0\",[^}]*\"busy\":true,\"busy_queues\":2" ||
	kf_fail "esfm list-vfs does not show VF0 busy with 2 queues: $out"
kf_ok "esfm list-vfs shows $vf0 busy, 2 queues"

for cmd in "detach $vf0" "reconf $pf 2" "pause $vf0"; do
	rc=0
	out=$($E $cmd 2>&1) || rc=$?
	[ $rc = 5 ] || kf_fail "esfm $cmd exited $rc, want 5 (busy): $out"
	echo "$out" | grep -q "$vf0 is busy: 2 active queue(s) held by pid $holder" ||
		kf_fail "esfm $cmd does not name the VF and the holder: $out"
	[ "$(cat $P/sriov_numvfs)" = 3 ] || kf_fail "esfm $cmd changed sriov_numvfs"
	grep -q "^$vf0 2 $holder$" $P/kfarm/vf_busy || kf_fail "esfm $cmd changed VF0's count"
	kf_ok "esfm $cmd refused: $out"
done
kf_dmesg_clean "esfm refusals"

# A busy VF that is not attached to a VM: a VF count change resets every VF, so ESFM refuses
# before anything moves (exit 5, naming the VF), and nothing changes.
vf1=$(kf_vfs "$pf" | sed -n 2p)
kf_bind "$vf1" kfarm_vf || kf_fail "bind VF1"
kfarm-vf-hold -n 1 "$vf1" >/tmp/hold1.out 2>&1 &
holder1=$!
kf_wait_for 10 grep -q "^$vf1 1 $holder1$" $P/kfarm/vf_busy || kf_fail "VF1 never busy"
kill "$holder"
wait "$holder"
kf_wait_for 10 grep -q "^$vf0 0 0$" $P/kfarm/vf_busy || kf_fail "VF0 still busy after the holder died"
rc=0
out=$($E reconf "$pf" 2 2>&1) || rc=$?
[ $rc = 5 ] || kf_fail "esfm reconf with VF1 busy exited $rc, not 5 (busy): $out"
echo "$out" | grep -q "$vf1" || kf_fail "the refusal does not name VF1: $out"
[ "$(cat $P/sriov_numvfs)" = 3 ] || kf_fail "esfm reconf changed sriov_numvfs with VF1 busy"
grep -q "^$vf1 1 $holder1$" $P/kfarm/vf_busy || kf_fail "VF1's count changed"
kf_ok "esfm reconf with unattached VF1 busy failed (exit $rc), VFs unchanged: $out"
kill "$holder1"
wait "$holder1"
kf_wait_for 10 grep -q "^$vf0 0 0$" $P/kfarm/vf_busy || kf_fail "VF0 still busy after the holder died"
out=$($E detach "$vf0" 2>&1) || kf_fail "esfm detach of the idle VF: $out"
kf_ok "$out"
out=$($E reconf "$pf" 2 2>&1) || kf_fail "esfm reconf $pf 2 with idle VFs: $out"
[ "$(cat $P/sriov_numvfs)" = 2 ] || kf_fail "sriov_numvfs is not 2 after esfm reconf"
kf_ok "idle: esfm detach and reconf to 2 VFs succeed"
kf_dmesg_clean "esfm detach and reconf"
