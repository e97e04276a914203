# Guest script, the issue 7 scenario: a VF with queues held by a process shows in vf_busy and
# kfarm/busy, blocks sriov_numvfs changes and rmmod; killing the holder frees everything.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no SR-IOV PF in the guest"
P=/sys/bus/pci/devices/$pf
insmod /kfarm/kfarm_vf.ko || kf_fail "insmod kfarm_vf.ko"
kf_bind "$pf" kfarm_pf || kf_fail "cannot bind $pf to kfarm_pf"
[ "$(cat $P/kfarm/busy_total)" = 0 ] || kf_fail "busy_total of a fresh PF is not 0"
[ -z "$(cat $P/kfarm/vf_busy)" ] || kf_fail "vf_busy lists VFs before any is enabled"
kf_ok "$pf bound to kfarm_pf"
kf_dmesg_clean "binding the PF"

echo 3 >$P/sriov_numvfs || kf_fail "echo 3 > sriov_numvfs"
set -- $(kf_vfs "$pf")
[ $# = 3 ] || kf_fail "expected 3 VFs, got $#"
vf0=$1
expected=$(printf '%s 0 0\n' "$@")
[ "$(cat $P/kfarm/vf_busy)" = "$expected" ] ||
	kf_fail "vf_busy after enabling: '$(cat $P/kfarm/vf_busy)', want '$expected'"
kf_ok "3 VFs, vf_busy lists them idle"

kf_bind "$vf0" kfarm_vf || kf_fail "cannot bind $vf0 to kfarm_vf"
[ -c /dev/kfarm_vf/$vf0 ] || kf_fail "no character device /dev/kfarm_vf/$vf0"
[ "$(cat /sys/bus/pci/devices/$vf0/kfarm/busy)" = "0 0" ] || kf_fail "kfarm/busy of idle VF0"
kf_ok "VF0 $vf0 bound to kfarm_vf, /dev/kfarm_vf/$vf0"
kf_dmesg_clean "binding VF0"

kfarm-vf-hold -n 2 "$vf0" >/tmp/hold.out 2>&1 &
holder=$!
kf_wait_for 10 grep -q "^$vf0 2 " $P/kfarm/vf_busy ||
	kf_fail "vf_busy never showed 2 queues on $vf0: $(cat $P/kfarm/vf_busy; cat /tmp/hold.out)"
line=$(grep "^$vf0 " $P/kfarm/vf_busy)
[ "$line" = "$vf0 2 $holder" ] || kf_fail "vf_busy line '$line', want '$vf0 2 $holder'"
[ "$(cat /sys/bus/pci/devices/$vf0/kfarm/busy)" = "2 $holder" ] ||
	kf_fail "VF kfarm/busy '$(cat /sys/bus/pci/devices/$vf0/kfarm/busy)', want '2 $holder'"
[ "$(cat $P/kfarm/busy_total)" = 2 ] || kf_fail "busy_total is not 2"
[ "$(grep -c ' 0 0$' $P/kfarm/vf_busy)" = 2 ] || kf_fail "VF1 and VF2 should stay idle"
kf_ok "holder $holder: vf_busy '$line', busy_total 2"
kf_dmesg_clean "holding 2 queues"

if (echo 0 >$P/sriov_numvfs) 2>/tmp/err; then
	kf_fail "echo 0 > sriov_numvfs succeeded with VF0 busy"
fi
grep -q "busy" /tmp/err || kf_fail "sriov_numvfs write failed without EBUSY: $(cat /tmp/err)"
[ "$(cat $P/sriov_numvfs)" = 3 ] || kf_fail "sriov_numvfs changed although refused"
[ -e /dev/kfarm_vf/$vf0 ] || kf_fail "VF0 device gone after a refused disable"
kf_ok "echo 0 > sriov_numvfs refused: $(cat /tmp/err)"
if (echo 1 >$P/sriov_numvfs) 2>/dev/null; then
	kf_fail "echo 1 > sriov_numvfs succeeded with VF0 busy"
fi
[ "$(cat $P/sriov_numvfs)" = 3 ] || kf_fail "sriov_numvfs changed by a refused write of 1"
kf_dmesg_clean "refused sriov_numvfs"

if rmmod kfarm_vf 2>/tmp/err; then
	kf_fail "rmmod kfarm_vf succeeded with VF0 busy"
fi
grep -q "^kfarm_vf " /proc/modules || kf_fail "kfarm_vf not loaded after a refused rmmod"
[ "$(cat $P/kfarm/busy_total)" = 2 ] || kf_fail "busy_total changed after a refused rmmod"
kf_ok "rmmod refused: $(cat /tmp/err)"
kf_dmesg_clean "refused rmmod"

kill "$holder"
wait "$holder"
kf_wait_for 10 grep -q "^$vf0 0 0$" $P/kfarm/vf_busy ||
	kf_fail "vf_busy after killing the holder: $(cat $P/kfarm/vf_busy)"
[ "$(cat $P/kfarm/busy_total)" = 0 ] || kf_fail "busy_total not 0 after the holder died"
[ "$(cat /sys/bus/pci/devices/$vf0/kfarm/busy)" = "0 0" ] || kf_fail "VF kfarm/busy not '0 0'"
kf_ok "holder killed: counts back to 0"
kf_dmesg_clean "killing the holder"

echo 0 >$P/sriov_numvfs || kf_fail "echo 0 > sriov_numvfs with idle VFs"
[ -z "$(kf_vfs "$pf")" ] || kf_fail "VFs left after disabling"
[ -z "$(cat $P/kfarm/vf_busy)" ] || kf_fail "vf_busy lists VFs after disabling"
[ ! -e /dev/kfarm_vf/$vf0 ] || kf_fail "/dev/kfarm_vf/$vf0 left after disabling"
kf_ok "VFs disabled"
kf_dmesg_clean "disabling VFs"

rmmod kfarm_vf || kf_fail "rmmod kfarm_vf with idle VFs"
! grep -q "^kfarm_vf " /proc/modules || kf_fail "kfarm_vf still loaded"
[ -z "$(kf_driver "$pf")" ] || kf_fail "PF still bound after rmmod"
kf_ok "rmmod kfarm_vf"
kf_dmesg_clean "rmmod"
