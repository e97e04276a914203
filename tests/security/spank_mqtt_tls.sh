#!/usr/bin/env bash
# The SPANK plugin's mqtt_* plugstack arguments, on a real Slurm 22.05 with spank_kfarm.so and a
# real mosquitto that takes only TLS and known users (tests/harness/mosquitto start-tls): the job
# prolog's ESFM publishes the VF it attaches (and the epilog the detach) over TLS as user esfm;
# with a wrong password in the file, or a file others may read, the job runs without the
# accelerator and KFARM_ACCEL_REASON says why.
source "$(dirname "$0")/../spank/spank_lib.sh"
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
MQ=$T/mqtt
sub=
stop_broker() {
  if [[ -n $sub ]]; then kill "$sub" 2>/dev/null; fi
  "$S/tests/harness/mosquitto" stop "$MQ" >/dev/null 2>&1 || true
}
# (not in a background job killed before it exec'd: bash runs the trap there too)
trap 'rc=$?; [[ $BASHPID == "$$" ]] || exit $rc; set +e; stop_broker; (exit $rc); cleanup' EXIT
pw=$(openssl rand -hex 12)
"$S/tests/harness/mosquitto" start-tls "$MQ" "esfm:$pw" >/dev/null
url=$("$S/tests/harness/mosquitto" url "$MQ")
port=${url##*:}
(umask 077; printf '%s\n' "$pw" >"$T/esfm.pw")
SPANK_PLUGSTACK_EXTRA="mqtt=$url mqtt_username=esfm mqtt_password_file=$T/esfm.pw mqtt_cafile=$MQ/ca.crt"
spank_setup "$POLICY"

# 1. the right password: the prolog's attach and the epilog's detach go out over TLS
mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$MQ/ca.crt" -u esfm -P "$pw" -v \
  -t 'kfarm/accel/#' -C 2 -W 60 >"$T/sub.txt" 2>"$T/sub.log" &
sub=$!
wait_until 10 "mosquitto_sub connected" grep -qF "u'esfm')" "$MQ/mosquitto.log"
sleep 0.3 # its SUBSCRIBE follows the CONNECT the log shows
out=$(timeout 60 srun --mpi=none --fpga-vfs=1 bash -c 'echo "$KFARM_ACCEL|$KFARM_ACCEL_REASON"' \
  2>>"$T/srun.log") || fail "srun: $out $(cat "$T/srun.log")"
[[ $out == "1|" ]] || fail "with the right MQTT password: KFARM_ACCEL|REASON=$out"
wait "$sub" || fail "mosquitto_sub got: $(cat "$T/sub.txt") $(cat "$T/sub.log")"
sub=
node=$(hostname)
grep -qE "^kfarm/accel/$node/0000:[0-9a-f:.]+ \{\"state\":\"active\"\}$" <(sed -n 1p "$T/sub.txt") &&
  grep -qE "^kfarm/accel/$node/0000:[0-9a-f:.]+ \{\"state\":\"detached\"\}$" <(sed -n 2p "$T/sub.txt") ||
  fail "mosquitto_sub got: $(cat "$T/sub.txt")"
pass "prolog/epilog ESFM published over TLS as esfm: $(paste -sd' ' "$T/sub.txt")"

# 2. a wrong password: no accelerator, and the reason names the refusal
wait_until 30 "node idle after the first job" node_idle
printf 'not-%s\n' "$pw" >"$T/esfm.pw"
out=$(timeout 60 srun --mpi=none --fpga-vfs=1 bash -c 'echo "$KFARM_ACCEL|$KFARM_ACCEL_REASON"' \
  2>>"$T/srun.log") || fail "srun: $out $(cat "$T/srun.log")"
[[ $out == "0|"*"MQTT broker $url refused user esfm: not authorised"* ]] ||
  fail "wrong password: $out"
pass "wrong password: KFARM_ACCEL=0, reason: ${out#0|}"

# 3. a password file others may read: refused before any connection
wait_until 30 "node idle after the second job" node_idle
printf '%s\n' "$pw" >"$T/esfm.pw"
chmod 644 "$T/esfm.pw"
out=$(timeout 60 srun --mpi=none --fpga-vfs=1 bash -c 'echo "$KFARM_ACCEL|$KFARM_ACCEL_REASON"' \
  2>>"$T/srun.log") || fail "srun: $out $(cat "$T/srun.log")"
[[ $out == "0|"*"has mode 0644: group or others may read it"* ]] || fail "readable file: $out"
pass "group/world-readable password file: KFARM_ACCEL=0, reason: ${out#0|}"
[[ -z $(vm_vfs) ]] || fail "VFs left on the VM: $(vm_vfs)"
