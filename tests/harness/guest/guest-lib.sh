# Shell helpers for test scripts running inside the kfarm QEMU guest (busybox sh); the harness puts
# this file at /kfarm/lib.sh, and a script loads it with `. /kfarm/lib.sh`.

# kf_fail MESSAGE: report a failed check and end the script with status 1.
kf_fail() {
	echo "FAIL: $*"
	exit 1
}

# kf_ok MESSAGE: report a passed check.
kf_ok() {
	echo "ok: $*"
}

# kf_wait_for SECONDS COMMAND...: wait until COMMAND succeeds, at most SECONDS (checks every 0.1 s).
kf_wait_for() {
	local n=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# kf_sriov_pf: print the BDF of the first PCI function that can have SR-IOV VFs.
kf_sriov_pf() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ -e "$d/sriov_totalvfs" ] || continue
		[ "$(cat "$d/sriov_totalvfs")" -gt 0 ] || continue
		echo "${d##*/}"
		return 0
	done
	return 1
}

# kf_driver BDF: print the name of the driver bound to BDF, or nothing.
kf_driver() {
	local l=/sys/bus/pci/devices/$1/driver
	[ -e "$l" ] && basename "$(readlink "$l")"
	return 0
}

# kf_bind BDF DRIVER: bind BDF to DRIVER through driver_override, unbinding it first if needed.
kf_bind() {
	local dev=/sys/bus/pci/devices/$1
	[ -e "$dev" ] || { echo "kf_bind: no PCI device $1"; return 1; }
	[ -e "$dev/driver" ] && echo "$1" >"$dev/driver/unbind"
	echo "$2" >"$dev/driver_override" || return 1
	echo "$1" >/sys/bus/pci/drivers_probe
	[ "$(kf_driver "$1")" = "$2" ] || {
		echo "kf_bind: $1 is not bound to $2 after drivers_probe"
		return 1
	}
}

# kf_unbind BDF: unbind BDF from its driver and clear driver_override.
kf_unbind() {
	local dev=/sys/bus/pci/devices/$1
	[ -e "$dev/driver" ] && echo "$1" >"$dev/driver/unbind"
	echo >"$dev/driver_override"
}

# kf_vfs PF: print the BDFs of the VFs of PF, virtfn0 first.
kf_vfs() {
	local i=0
	while [ -e "/sys/bus/pci/devices/$1/virtfn$i" ]; do
		basename "$(readlink "/sys/bus/pci/devices/$1/virtfn$i")"
		i=$((i + 1))
	done
}

# kf_dmesg_clean [WHEN]: fail unless the kernel log is free of warnings, BUGs, oopses and lockdep
# reports; WHEN names the step in the failure message.
kf_dmesg_clean() {
	local pat='WARNING:|BUG:|BUG |Oops|lockdep|possible circular|possible recursive|general protection|Call Trace|INFO: task .* blocked|sleeping function called'
	if dmesg | grep -E "$pat" >/dev/null; then
		echo "--- dmesg ---"
		dmesg
		kf_fail "kernel log has a splat${1:+ after $1}"
	fi
}
