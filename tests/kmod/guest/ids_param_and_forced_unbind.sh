# Guest script: ids= binds the PF at load (and not its VFs) and rejects malformed lists; unbinding
# a busy VF or its PF cannot be refused, so the count drops, the holder's file turns to ENODEV and
# closes cleanly, with no kernel splat; rmmod waits for the holder to close.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no SR-IOV PF in the guest"
P=/sys/bus/pci/devices/$pf
id=$(sed 's/^0x//' $P/vendor):$(sed 's/^0x//' $P/device)
for bad in bogus 1b36 ${id}x 12345:0010; do
	if insmod /kfarm/kfarm_vf.ko ids=$bad 2>/dev/null; then
		kf_fail "insmod with ids=$bad succeeded"
	fi
done
insmod /kfarm/kfarm_vf.ko ids=$id || kf_fail "insmod kfarm_vf.ko ids=$id"
[ "$(kf_driver "$pf")" = kfarm_pf ] || kf_fail "ids=$id did not bind $pf to kfarm_pf"
kf_ok "ids=$id bound $pf"

echo 2 >$P/sriov_numvfs || kf_fail "echo 2 > sriov_numvfs"
set -- $(kf_vfs "$pf")
vf0=$1 vf1=$2
[ -z "$(kf_driver "$vf0")" ] || kf_fail "VF0 bound to $(kf_driver "$vf0") by ids="
kf_ok "VFs $vf0 $vf1 left unbound by ids="
kf_bind "$vf0" kfarm_vf || kf_fail "bind VF0"
kf_bind "$vf1" kfarm_vf || kf_fail "bind VF1"

# Unbinding a busy VF: its count goes, the PF may change VFs again.
kfarm-vf-hold -n 3 "$vf0" >/tmp/hold0.out 2>&1 &
h0=$!
kf_wait_for 10 grep -q "^$vf0 3 $h0$" $P/kfarm/vf_busy || kf_fail "VF0 never busy"
echo "$vf0" >/sys/bus/pci/devices/$vf0/driver/unbind
grep -q "^$vf0 0 0$" $P/kfarm/vf_busy || kf_fail "VF0 still counted after unbind: $(cat $P/kfarm/vf_busy)"
if rmmod kfarm_vf 2>/dev/null; then
	kf_fail "rmmod succeeded while a removed VF's file is still open"
fi
kill "$h0"
wait "$h0"
kf_ok "busy VF0 unbound; count dropped; rmmod waited for the holder"
kf_dmesg_clean "unbinding a busy VF"

kf_bind "$vf0" kfarm_vf || kf_fail "rebind VF0"
kfarm_vf_ioctl_check --unbind "$vf0" || kf_fail "ioctls on a VF unbound under an open file"
kf_dmesg_clean "ioctls after unbind"

# Unbinding the PF while VF1 is busy takes the VFs away.
kfarm-vf-hold -n 1 "$vf1" >/tmp/hold1.out 2>&1 &
h1=$!
kf_wait_for 10 grep -q "^$vf1 1 $h1$" $P/kfarm/vf_busy || kf_fail "VF1 never busy"
echo "$pf" >$P/driver/unbind
[ -z "$(kf_vfs "$pf")" ] || kf_fail "VFs left after unbinding the PF"
kill "$h1"
wait "$h1"
kf_ok "PF unbound with VF1 busy: VFs removed"
kf_dmesg_clean "unbinding the PF with a busy VF"

rmmod kfarm_vf || kf_fail "rmmod kfarm_vf"
kf_dmesg_clean "rmmod"
