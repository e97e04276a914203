# Guest side of tests/qemu/edu_pause_test.py (busybox sh): reads QEMU's edu device through its BAR
# while the host pauses and resumes it over QMP/HMP. Steps are signalled on the console as
# "KFARM-STEP=<name>"; the host acts on them, the guest polls the BAR with a bound.
. /kfarm/lib.sh

ID=0x010000ed       # edu identification register, BAR0 offset 0
ONES=0xffffffff
BOUND=${KF_POLL_BOUND:-60}

step() { echo "KFARM-STEP=$1"; }

# edu is 1234:11e8; the host puts it behind a PCIe root port so that an unplug would be visible.
dev=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] && dev=$d
done
[ -n "$dev" ] || kf_fail "no edu device (1234:11e8) in /sys/bus/pci/devices"
bdf=${dev##*/}
echo 1 >"$dev/enable" || kf_fail "cannot enable $bdf"
bar0=$(head -n1 "$dev/resource" | cut -d' ' -f1)
[ "$((bar0))" -ne 0 ] || kf_fail "$bdf has no BAR0 address"
kf_ok "edu at $bdf, BAR0 at $bar0"

rd() { devmem $((bar0 + $1)) 32 | tr 'A-F' 'a-f'; }
wr() { devmem $((bar0 + $1)) 32 "$2"; }
# wait_reg OFFSET VALUE: poll until the register reads VALUE, at most BOUND seconds.
wait_reg() {
	local n=$((BOUND * 10)) v
	while v=$(rd "$1"); [ "$((v))" -ne "$(($2))" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || { echo "register $1 still reads $v, want $2"; return 1; }
		sleep 0.1
	done
}
# liveness: edu's register 4 reads back the complement of what was written.
live() {
	wr 4 "$1"
	v=$(rd 4)
	[ "$((v))" -eq $(( ~$1 & 0xffffffff )) ] || kf_fail "liveness: wrote $1, read $v"
}
pci_ids() { echo "$(cat "$dev/vendor"):$(cat "$dev/device"):$(cat "$dev/class")"; }
devices() { ls /sys/bus/pci/devices | tr '\n' ' '; }

v=$(rd 0)
[ "$((v))" -eq $((ID)) ] || kf_fail "identification reads $v before pause, want $ID"
kf_ok "edu identification reads $v"
live 0x12345678
kf_ok "edu liveness register works"
ids_before=$(pci_ids)
devs_before=$(devices)
dmesg_lines=$(dmesg | wc -l)

# Round 1: QMP device_pause / resume.
step PAUSE1
wait_reg 0 $ONES || kf_fail "BAR did not read all-ones within $BOUND s of PAUSE1"
kf_ok "paused: identification reads all-ones"
[ "$(rd 4)" = $ONES ] || kf_fail "paused: register 4 does not read all-ones"
wr 4 0x0badcafe                          # dropped: must not reach the device
[ -e "$dev" ] || kf_fail "paused: $bdf left /sys/bus/pci/devices"
[ "$(pci_ids)" = "$ids_before" ] || kf_fail "paused: config space changed: $(pci_ids), was $ids_before"
[ "$(devices)" = "$devs_before" ] || kf_fail "paused: PCI devices changed: $(devices), was $devs_before"
kf_ok "paused: $bdf still listed with config $(pci_ids)"
step PAUSED1
wait_reg 0 $ID || kf_fail "BAR did not read $ID within $BOUND s of resume"
v=$(rd 4)
[ "$((v))" -eq $(( ~0x12345678 & 0xffffffff )) ] ||
	kf_fail "resumed: register 4 reads $v: state lost or a write made while paused got through"
live 0xa5a5a5a5
kf_ok "resumed: identification $ID, state kept, liveness register works"

# Round 2: the HMP twin.
step PAUSE2
wait_reg 0 $ONES || kf_fail "BAR did not read all-ones within $BOUND s of PAUSE2 (HMP)"
kf_ok "paused through HMP"
step PAUSED2
wait_reg 0 $ID || kf_fail "BAR did not read $ID within $BOUND s of HMP resume"
live 0x0f0f0f0f
kf_ok "resumed through HMP"

# No unplug, no re-enumeration: nothing new in the kernel log about the device or its slot.
[ "$(devices)" = "$devs_before" ] || kf_fail "PCI devices changed: $(devices), was $devs_before"
new=$(dmesg | tail -n +$((dmesg_lines + 1)))
echo "$new" | grep -i -E "pciehp|hot.?plug|remov|unplug|acpiphp|link down|card not present|presence|$bdf|\[1234:11e8\]" &&
	kf_fail "kernel log shows the device going away or coming back (above)"
kf_dmesg_clean "pause/resume"
kf_ok "no unplug, no re-enumeration in dmesg"

# Round 3: the guest ejects the paused device itself (powers its hot-plug slot off), which no
# unplug blocker can stop: QEMU must drop the pause state (and its migration blocker) with it.
slot=
for s in /sys/bus/pci/slots/*; do
	[ "$(cat "$s/address" 2>/dev/null)" = "${bdf%.*}" ] && slot=$s
done
[ -n "$slot" ] || kf_fail "no hot-plug slot with address ${bdf%.*} in /sys/bus/pci/slots"
step PAUSE3
wait_reg 0 $ONES || kf_fail "BAR did not read all-ones within $BOUND s of PAUSE3"
echo 0 >"$slot/power" || kf_fail "cannot power off $slot"
kf_wait_for "$BOUND" sh -c "[ ! -e $dev ]" || kf_fail "$bdf still listed after powering $slot off"
kf_ok "the guest ejected the paused device through $slot"
step EJECTED3
# The host checks its side, then plugs a new edu into the slot: that is also our cue to finish.
kf_wait_for "$BOUND" sh -c "grep -l 0x11e8 /sys/bus/pci/devices/*/device" ||
	kf_fail "no edu plugged back into $slot within $BOUND s"
kf_ok "a new edu appeared in the slot after the eject"
step DONE
