# Guest script: bad kfarm_vf ioctls (bad pointers, zero or huge counts, flags, deleting below zero,
# unknown commands) fail with their errno and leave the VF's queue count alone.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no SR-IOV PF in the guest"
P=/sys/bus/pci/devices/$pf
insmod /kfarm/kfarm_vf.ko || kf_fail "insmod kfarm_vf.ko"
kf_bind "$pf" kfarm_pf || kf_fail "cannot bind $pf to kfarm_pf"
echo 2 >$P/sriov_numvfs || kf_fail "echo 2 > sriov_numvfs"
vf0=$(kf_vfs "$pf" | head -1)
kf_bind "$vf0" kfarm_vf || kf_fail "cannot bind $vf0 to kfarm_vf"

kfarm_vf_ioctl_check "$vf0" || kf_fail "ioctl checks"
[ "$(cat $P/kfarm/busy_total)" = 0 ] || kf_fail "busy_total not 0 after the checks closed"
kf_dmesg_clean "bad ioctls"

echo 0 >$P/sriov_numvfs || kf_fail "echo 0 > sriov_numvfs"
rmmod kfarm_vf || kf_fail "rmmod kfarm_vf"
kf_dmesg_clean "rmmod"
kf_ok "bad ioctls change nothing"
