# Guest side of bench/qemu/pause_vs_hotplug.py (busybox sh): reports on the console whenever QEMU's
# edu device (1234:11e8) appears in or disappears from /sys/bus/pci/devices, until the host has
# finished (it prints nothing else; the host ends the VM with QMP quit). Bounded by KF_BENCH_BOUND.
present() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1234 ] &&
			[ "$(cat "$d/device" 2>/dev/null)" = 0x11e8 ] && return 0
	done
	return 1
}
state=absent
n=$(( ${KF_BENCH_BOUND:-600} * 20 ))
echo "KFARM-BENCH=READY"
while [ $n -gt 0 ]; do
	if present; then now=present; else now=absent; fi
	if [ $now != $state ]; then
		state=$now
		echo "KFARM-BENCH=$state"
	fi
	n=$((n - 1))
	sleep 0.05
done
