# Guest script: esfm (built without libvirt) on a real Linux 6.1 kernel's SR-IOV sysfs, with
# QEMU's emulated nvme SR-IOV PF behind an emulated Intel IOMMU: init binds the PF to
# pci-pf-stub and the VFs to vfio-pci, reconf 3 -> 2 -> 4, list-vfs --json, error cases with
# their exit codes, and a crash in the middle of a reconf repaired by the next run.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no SR-IOV PF; is the nvme PF attached?"
S=/sys/bus/pci/devices/$pf
cat >/tmp/policy.json <<JSON
{"pf_ids": ["$(cat $S/vendor | cut -c3-):$(cat $S/device | cut -c3-)"],
 "pf_driver": "pci-pf-stub", "vf_driver": "vfio-pci"}
JSON
chmod 644 /tmp/policy.json
E="esfm-guest --state-dir /tmp/esfm --policy /tmp/policy.json"
numvfs() { cat $S/sriov_numvfs; }
expect() { # expect CODE 'message' args...: exit code and message, VF count unchanged
	code=$1 msg=$2
	shift 2
	before=$(numvfs)
	out=$("$@" 2>&1)
	rc=$?
	[ "$rc" = "$code" ] || kf_fail "'$*' exited $rc, want $code: $out"
	echo "$out" | grep -qF -- "$msg" || kf_fail "'$*' said '$out', want '$msg'"
	[ "$(numvfs)" = "$before" ] || kf_fail "'$*' changed sriov_numvfs"
	kf_ok "exit $code: $*"
}

# init by the policy's vendor:device: binds pci-pf-stub, autoprobe off, 3 VFs on vfio-pci
out=$($E init --vfs 3) || kf_fail "esfm init failed: $out"
echo "$out"
[ "$(kf_driver $pf)" = pci-pf-stub ] || kf_fail "PF not bound to pci-pf-stub"
[ "$(cat $S/sriov_drivers_autoprobe)" = 0 ] || kf_fail "sriov_drivers_autoprobe not 0"
[ "$(numvfs)" = 3 ] || kf_fail "sriov_numvfs is $(numvfs), want 3"
for vf in $(kf_vfs $pf); do
	[ "$(kf_driver $vf)" = vfio-pci ] || kf_fail "VF $vf bound to '$(kf_driver $vf)', want vfio-pci"
	g=$(basename "$(readlink /sys/bus/pci/devices/$vf/iommu_group)")
	[ -c /dev/vfio/$g ] || kf_fail "no /dev/vfio/$g for VF $vf"
done
kf_ok "init: 3 VFs on vfio-pci: $(kf_vfs $pf | tr '\n' ' ')"

# reconf 3 -> 2 -> 4 (the kernel refuses 2 -> 4 directly; esfm goes through 0)
for n in 2 4; do
	out=$($E reconf $pf $n) || kf_fail "reconf to $n failed: $out"
	echo "$out"
	[ "$(numvfs)" = $n ] || kf_fail "sriov_numvfs $(numvfs) after reconf to $n"
	[ "$(kf_vfs $pf | wc -l)" = $n ] || kf_fail "virtfn links after reconf to $n"
	echo "$out" | sed -n 's/.* VFs in \([0-9]*\) ms.*/GUEST-TIMING reconf-to-'$n' total \1 ms/p'
	echo "$out" | sed -n 's/^sriov_numvfs of .*: \([0-9]*\) -> 0 in \([0-9]*\) ms, 0 -> \([0-9]*\) in \([0-9]*\) ms/GUEST-TIMING sriov_numvfs \1->0 \2 ms, 0->\3 \4 ms/p'
done
echo 3 >$S/sriov_numvfs 2>/dev/null && kf_fail "the kernel accepted 4 -> 3 directly"
kf_ok "kernel refuses a direct VF count change (EBUSY); esfm went through 0"

out=$($E list-vfs --json) || kf_fail "list-vfs failed"
echo "$out"
[ "$(echo "$out" | grep -c '"driver":.*"vfio-pci"')" = 4 ] || kf_fail "list-vfs: 4 vfio-pci VFs"
[ "$(echo "$out" | grep -c '"state":.*"free"')" = 4 ] || kf_fail "list-vfs: 4 free VFs"
kf_ok "list-vfs --json"

vf0=$(kf_vfs $pf | head -n1)
expect 2 "supports 0 to 4 VFs" $E reconf $pf 5
expect 2 "must be a whole number" $E reconf $pf two
expect 2 "is a VF of PF $pf" $E reconf $vf0 2
expect 4 "no PCI device 0000:09:00.0" $E reconf 0000:09:00.0 2
expect 2 "not an SR-IOV PF" $E reconf 0000:00:00.0 2
expect 2 "pass --connect" $E attach $vf0 vm1
expect 3 "not allow-listed" $E init $pf --bitstream nope
chmod 666 /tmp/policy.json
expect 3 "not group/world-writable" $E list-vfs
chmod 644 /tmp/policy.json

# a crash after the VF count went to 0 (steps: journal intent, rescan, sriov_numvfs 0): status
# shows it, the next command finishes the reconf
out=$(ESFM_TEST_CRASH_AFTER_STEP=3 $E reconf $pf 2 2>&1 >/dev/null)
rc=$?
[ $rc = 137 ] || kf_fail "crash run exited $rc, want 137 (SIGKILL)"
echo "$out" | grep -q "after step 3 (sriov_numvfs 0)" || kf_fail "step 3 is not sriov_numvfs 0: $out"
[ "$(numvfs)" = 0 ] || kf_fail "after the crash sriov_numvfs is $(numvfs), want 0"
$E status | grep -q "pending: reconf $pf" || kf_fail "status does not show the interrupted reconf"
$E list-vfs >/dev/null || kf_fail "list-vfs after crash"
[ "$(numvfs)" = 2 ] || kf_fail "repair left sriov_numvfs $(numvfs), want 2"
$E status | grep -q "journal: clean" || kf_fail "journal not clean after repair"
for vf in $(kf_vfs $pf); do
	[ "$(kf_driver $vf)" = vfio-pci ] || kf_fail "repaired VF $vf not on vfio-pci"
done
kf_ok "crash after step 3 (sriov_numvfs 0) of reconf repaired by the next run"

# a PF without its driver: esfm says what to do, exit 7
$E reconf $pf 0 >/dev/null || kf_fail "reconf to 0"
echo $pf >/sys/bus/pci/drivers/pci-pf-stub/unbind
expect 7 "no driver bound" $E reconf $pf 2
kf_dmesg_clean "esfm on the real kernel"
