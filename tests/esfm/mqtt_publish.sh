#!/usr/bin/env bash
# esfm --mqtt publishes kfarm/accel/<node>/<bdf> {"state": ...} on attach, pause, unpause and
# detach, to a real mosquitto started here on a free loopback port (stopped on exit).
. "$(dirname "$0")/cli_lib.sh"
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$T/mosquitto.conf"
mosquitto -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
mpid=$!
sub=
# (not in a background job killed before it exec'd: bash runs the trap there too)
trap '[[ $BASHPID == "$$" ]] || exit; kill $mpid ${sub:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do
    mosquitto_pub -h 127.0.0.1 -p "$port" -t probe -m x 2>/dev/null && break; sleep 0.1
done
mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'kfarm/accel/#' -C 4 -W 30 >"$T/got" &
sub=$!
sleep 0.5 # let the subscription reach the broker before publishing
new_env false
esfm init $PF --vfs 2 >/dev/null
M="--mqtt tcp://127.0.0.1:$port"
esfm $M attach $VF1 vm1 >/dev/null
esfm $M pause $VF1 >/dev/null    # no device_pause: detach fallback, still "paused"
esfm $M unpause $VF1 >/dev/null
esfm $M detach $VF1 >/dev/null
esfm list-vfs >/dev/null         # no --mqtt: publishes nothing
wait $sub || fail "subscriber got $(wc -l <"$T/got") of 4 messages: $(cat "$T/got")"
sub=
node=$(hostname)
want="kfarm/accel/$node/$VF1 {\"state\":\"active\"}
kfarm/accel/$node/$VF1 {\"state\":\"paused\"}
kfarm/accel/$node/$VF1 {\"state\":\"active\"}
kfarm/accel/$node/$VF1 {\"state\":\"detached\"}"
[ "$(cat "$T/got")" = "$want" ] || fail "got: $(cat "$T/got")"
echo PASS
