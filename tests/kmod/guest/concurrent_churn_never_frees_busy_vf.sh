# Guest script: while VF0 is held and other processes open/add/delete/close on VF1 as fast as they
# can, and others read the sysfs files, every sriov_numvfs write is refused and VF0's line never
# changes; afterwards every count is back to 0, the VFs disable, the module unloads, dmesg is clean.
. /kfarm/lib.sh

pf=$(kf_sriov_pf) || kf_fail "no SR-IOV PF in the guest"
P=/sys/bus/pci/devices/$pf
insmod /kfarm/kfarm_vf.ko || kf_fail "insmod kfarm_vf.ko"
kf_bind "$pf" kfarm_pf || kf_fail "bind PF"
echo 2 >$P/sriov_numvfs || kf_fail "echo 2 > sriov_numvfs"
set -- $(kf_vfs "$pf")
vf0=$1 vf1=$2
kf_bind "$vf0" kfarm_vf && kf_bind "$vf1" kfarm_vf || kf_fail "bind VFs"

kfarm-vf-hold -n 2 "$vf0" >/tmp/hold.out 2>&1 &
holder=$!
kf_wait_for 10 grep -q "^$vf0 2 $holder$" $P/kfarm/vf_busy || kf_fail "VF0 never busy"

pids=""
for i in 1 2 3; do
	kfarm_vf_ioctl_check --churn 4 "$vf1" >/tmp/churn$i.out 2>&1 &
	pids="$pids $!"
done
refused=0 reads=0
end=$(($(cut -d. -f1 /proc/uptime) + 4))
while [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do
	if (echo 0 >$P/sriov_numvfs) 2>/dev/null; then
		kf_fail "sriov_numvfs=0 accepted while VF0 was held"
	fi
	refused=$((refused + 1))
	grep -q "^$vf0 2 $holder$" $P/kfarm/vf_busy || kf_fail "VF0 line changed: $(cat $P/kfarm/vf_busy)"
	cat /sys/bus/pci/devices/$vf1/kfarm/busy $P/kfarm/busy_total >/dev/null
	reads=$((reads + 1))
done
for p in $pids; do
	wait $p || kf_fail "churner failed: $(cat /tmp/churn*.out)"
done
cat /tmp/churn*.out
kf_ok "$refused refused sriov_numvfs writes and $reads sysfs rounds during the churn"

[ "$(cat /sys/bus/pci/devices/$vf1/kfarm/busy)" = "0 0" ] || kf_fail "VF1 not idle after churn"
kill "$holder"
wait "$holder"
[ "$(cat $P/kfarm/busy_total)" = 0 ] || kf_fail "busy_total not 0 at the end"
echo 0 >$P/sriov_numvfs || kf_fail "disable idle VFs"
rmmod kfarm_vf || kf_fail "rmmod"
kf_dmesg_clean "concurrent churn"
kf_ok "counts consistent after the churn"
