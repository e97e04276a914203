# Guest script: the real kernel's SR-IOV sysfs works on QEMU's emulated nvme PF. Binds the PF to
# pci-pf-stub, enables 3 VFs, checks the virtfn links, disables them again.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no PCI function with sriov_totalvfs > 0; is the nvme PF attached?"
kf_ok "SR-IOV PF $pf, sriov_totalvfs=$(cat /sys/bus/pci/devices/$pf/sriov_totalvfs)"
kf_bind "$pf" pci-pf-stub || kf_fail "cannot bind $pf to pci-pf-stub"
kf_ok "$pf bound to pci-pf-stub"

echo 3 >/sys/bus/pci/devices/$pf/sriov_numvfs || kf_fail "echo 3 > sriov_numvfs failed"
[ "$(cat /sys/bus/pci/devices/$pf/sriov_numvfs)" = 3 ] || kf_fail "sriov_numvfs does not read 3"
n=$(kf_vfs "$pf" | wc -l)
[ "$n" = 3 ] || kf_fail "expected 3 virtfn links, found $n"
for vf in $(kf_vfs "$pf"); do
	[ "$(basename "$(readlink /sys/bus/pci/devices/$vf/physfn)")" = "$pf" ] ||
		kf_fail "VF $vf has no physfn link back to $pf"
done
kf_ok "3 VFs: $(kf_vfs "$pf" | tr '\n' ' ')"

echo 0 >/sys/bus/pci/devices/$pf/sriov_numvfs || kf_fail "echo 0 > sriov_numvfs failed"
[ -z "$(kf_vfs "$pf")" ] || kf_fail "virtfn links left after disabling VFs"
kf_ok "VFs disabled"
kf_dmesg_clean "SR-IOV enable/disable"
