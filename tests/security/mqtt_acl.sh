#!/usr/bin/env bash
# The shipped broker ACL (packaging/mosquitto-kfarm.acl) on a real mosquitto (TLS, passwords,
# tests/harness/mosquitto start-tls with MOSQUITTO_ACL_FILE), one broker user per role:
#  1. it grants what the real components need: kfarm-learner (user learner), kfarm-observer
#     (observer) and a selector client (tuner: the tuner library's link, as in kfarm's workers)
#     exchange welcome/observation/knowledge, and ESFM (esfm) announces a VF state to the selector;
#  2. it refuses what a job user holding the tuner password could abuse, each next to an allowed
#     control that shows the check would see a delivered message: a faked accelerator state
#     (esfm's gets through, tuner's does not), faked knowledge, and reading other clients'
#     observations (observer may, tuner may not).
set -euo pipefail
build=${KFARM_BUILD_DIR:?}
src=${KFARM_SOURCE_DIR:?}
harness=$src/tests/harness/mosquitto
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
tmp=$(mktemp -d /tmp/kfarm-mqtt-acl.XXXXXX)
pids=()
# shellcheck disable=SC2034  # read by mqtt_test_lib.sh
brokers=("$tmp/mqtt")
source "$src/tests/harness/mqtt_test_lib.sh"
trap mqtt_test_cleanup EXIT
has() { grep -qF -- "$2" "$1" 2>/dev/null; }

# --- broker with the shipped ACL, a user and password per role ---------------------------------
users=()
umask 077
for u in esfm learner observer tuner; do
  pw=$(openssl rand -hex 12)
  printf '%s\n' "$pw" >"$tmp/$u.pw"
  users+=("$u:$pw")
done
umask 022
port=$(MOSQUITTO_ACL_FILE=$src/packaging/mosquitto-kfarm.acl "$harness" start-tls "$tmp/mqtt" "${users[@]}")
url=$("$harness" url "$tmp/mqtt")
has "$tmp/mqtt/mosquitto.conf" "acl_file $tmp/mqtt/acl" || fail "the broker does not load the ACL"
ca=$tmp/mqtt/ca.crt
as() { echo --mqtt-cafile "$ca" --mqtt-username "$1" --mqtt-password-file "$tmp/$1.pw"; }
pub() { # pub USER TOPIC PAYLOAD [mosquitto_pub options]
  local u=$1 t=$2 m=$3; shift 3
  mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$ca" -u "$u" -P "$(cat "$tmp/$u.pw")" \
    -t "$t" -m "$m" "$@"
}
sub() { # sub USER TOPIC SECONDS OUT [options]: what USER receives on TOPIC within SECONDS
  local u=$1 t=$2 s=$3 out=$4       # (messages in OUT, mosquitto_sub's complaints in OUT.err)
  shift 4
  mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$ca" -u "$u" -P "$(cat "$tmp/$u.pw")" \
    -v -t "$t" -W "$s" "$@" >"$out" 2>"$out.err" || true
}

# --- 1. the ACL grants what the components need --------------------------------------------------
# shellcheck disable=SC2046 # as() prints separate words on purpose
"$build/src/tuner/kfarm-learner" --broker "$url" $(as learner) --state "$tmp/learner.json" \
  --knowledge-dir "$tmp" --observations 5 --client-id acl-learner 2>"$tmp/learner.log" & pids+=($!)
# shellcheck disable=SC2046
"$build/src/tuner/kfarm-observer" --broker "$url" $(as observer) --hints "$tmp/hints.json" \
  --client-id acl-observer 2>"$tmp/observer.log" & pids+=($!)
node=$(hostname)
vf=0000:01:00.1
# shellcheck disable=SC2046
"$build/tests/tuner/selector_client" --broker "$url" $(as tuner) --status "$tmp/a.json" \
  --node "$node" --accel-bdf "$vf" 2>"$tmp/selector.log" & pids+=($!)
wait_for 30 "learner (user learner) learned from the selector's (user tuner) observations" \
  is "$tmp/learner.json" "j['apps']['test.mc']['state']" learned
wait_for 10 "selector (tuner) got the learner's knowledge" is "$tmp/a.json" "j['predictions']>=1" True
cid=$(json "$tmp/a.json" "j['client']")
wait_for 10 "observer (user observer) heard the selector" \
  is "$tmp/hints.json" "'$cid' in j['apps']['test.mc']['clients']" True
"$build/tests/esfm/fake-tree" "$tmp/sys" pf 0000:01:00.0 4 pci-pf-stub 0 >/dev/null
echo '{"domains":{"vm1":{"device_pause":true}}}' >"$tmp/hv.json"
esfm() { "$build/tests/esfm/esfm-fakekernel" --sysfs-root "$tmp/sys" --state-dir "$tmp/esfm-state" \
  --connect "fake://$tmp/hv.json" "$@"; }
esfm init 0000:01:00.0 --vfs 2 >/dev/null
# shellcheck disable=SC2046
esfm --mqtt "$url" $(as esfm) attach "$vf" vm1 >"$tmp/esfm.log" 2>&1 || fail "esfm attach: $(cat "$tmp/esfm.log")"
wait_for 10 "selector: ESFM (user esfm) says the accelerator is active" \
  is "$tmp/a.json" "j['accel_available']" 1

# --- 2. refused: each next to an allowed control -------------------------------------------------
# No fixed waits for a message that must not come: a reader subscribes (ready once a probe from
# an allowed user reaches it), the refused message is published, then an allowed one. The broker
# handles them in that order and delivers to one subscriber in order, so once the reader has the
# allowed message, the refused one would be there before it had the broker let it through.
# reader_ready USER TOPIC PROBER OUT: starts USER's subscriber on TOPIC (payloads, one a line) and
# returns once a probe PROBER publishes there arrives; its pid is in $reader.
reader_ready() {
  local u=$1 t=$2 prober=$3 out=$4 i=0 deadline=$((SECONDS + 10))
  mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$ca" -u "$u" -P "$(cat "$tmp/$u.pw")" \
    -t "$t" >"$out" 2>"$out.err" &
  reader=$!
  pids+=("$reader")
  until grep -qF '{"probe":' "$out"; do
    ((SECONDS < deadline)) || fail "user $u's subscriber on $t got no probe in 10 s: $(cat "$out.err")"
    i=$((i + 1))
    pub "$prober" "$t" "{\"probe\":$i}"
    sleep 0.1
  done
}
has_line() { grep -qxF -- "$2" "$1"; } # has_line FILE LINE

# Knowledge first, while nothing changes (an accelerator state change makes the observer ask for
# relearning, and new knowledge follows). Valid ops.json files, so that the selector would take
# them; the tuner's and the learner's differ so that the reader can tell them apart.
for f in 3 5; do
  /usr/bin/python3 -c "import json,sys
k=json.load(open(sys.argv[1]))
for op in k['mc']: op['metrics']['time'][0] *= $f
print(json.dumps(k))" "$tmp/test.mc.json" >"$tmp/faked-$f.json"
done
n=$(json "$tmp/a.json" "j['predictions']")
reader_ready observer margot/test.mc/prediction learner "$tmp/pred.txt"
pub tuner margot/test.mc/prediction "$(cat "$tmp/faked-3.json")"
pub learner margot/test.mc/prediction "$(cat "$tmp/faked-5.json")"
wait_for 10 "control: knowledge from user learner reaches a reader" \
  has_line "$tmp/pred.txt" "$(cat "$tmp/faked-5.json")"
! has_line "$tmp/pred.txt" "$(cat "$tmp/faked-3.json")" || fail "user tuner's faked knowledge was delivered"
wait_for 10 "control: the selector takes the learner's knowledge" \
  is "$tmp/a.json" "j['predictions']" "$((n + 1))"
echo "ok: user tuner cannot send knowledge (the reader got only the learner's; the selector took one)"
kill "$reader"
reader_ready tuner "margot/test.mc/$cid/explore" learner "$tmp/explore.txt"
pub tuner "margot/test.mc/$cid/explore" '{"knobs":{"variant":"cpu"},"from":"tuner"}'
pub learner "margot/test.mc/$cid/explore" '{}'
wait_for 10 "control: an explore command from user learner arrives" has_line "$tmp/explore.txt" '{}'
! grep -qF '"from":"tuner"' "$tmp/explore.txt" || fail "user tuner's explore command was delivered"
echo "ok: user tuner cannot send explore commands"
kill "$reader"

accel=kfarm/accel/$node/$vf
faked='{"state":"paused","from":"tuner"}'
reader_ready tuner "$accel" esfm "$tmp/accel.txt"
pub tuner "$accel" "$faked" -r
sub tuner "$accel" 5 "$tmp/retained.txt" -C 1
[[ "$(cat "$tmp/retained.txt")" == "$accel {\"state\":\"active\"}" ]] ||
  fail "the retained state is not ESFM's: $(cat "$tmp/retained.txt")"
pub esfm "$accel" '{"state":"paused"}' -r
wait_for 10 "control: user esfm's state reaches a reader" has_line "$tmp/accel.txt" '{"state":"paused"}'
! has_line "$tmp/accel.txt" "$faked" || fail "user tuner faked an accelerator state"
echo "ok: user tuner cannot fake an accelerator state (not delivered, retained state unchanged)"
wait_for 10 "control: the same state from user esfm reaches the selector" \
  is "$tmp/a.json" "j['accel_available']" 0
kill "$reader"

# Observations: user tuner subscribes (ready once a probe on a topic it may read arrives, in the
# same SUBSCRIBE), then user observer reads 20 of the selector's observations; tuner got none.
mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$ca" -u tuner -P "$(cat "$tmp/tuner.pw")" \
  -v -t 'margot/+/observation/+' -t margot/test.mc/prediction >"$tmp/obs-tuner.txt" \
  2>"$tmp/obs-tuner.txt.err" &
reader=$!
pids+=("$reader")
probe() { pub learner margot/test.mc/prediction '{"probe":0}'; grep -qF '{"probe":' "$tmp/obs-tuner.txt"; }
wait_for 10 "user tuner's subscriber is ready" probe
sub observer 'margot/+/observation/+' 10 "$tmp/obs-observer.txt" -C 20
(($(grep -c "^margot/test.mc/observation/$cid " "$tmp/obs-observer.txt") == 20)) ||
  fail "control: user observer read fewer than 20 observations in 10 s: $(head -c 300 "$tmp/obs-observer.txt")"
echo "ok: control: user observer reads the selector's observations"
kill "$reader"
! grep -q "^margot/test.mc/observation/" "$tmp/obs-tuner.txt" || fail "user tuner read other clients' observations"
echo "ok: user tuner cannot read observations (none while observer read 20)"
echo PASS
