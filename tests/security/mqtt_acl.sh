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
# Knowledge first, while nothing changes (an accelerator state change makes the observer ask for
# relearning, and new knowledge follows). A valid ops.json, so that the selector would take it.
/usr/bin/python3 -c "import json,sys
k=json.load(open(sys.argv[1]))
for op in k['mc']: op['metrics']['time'][0] *= 3
print(json.dumps(k))" "$tmp/test.mc.json" >"$tmp/faked.json"
n=$(json "$tmp/a.json" "j['predictions']")
pub tuner margot/test.mc/prediction "$(cat "$tmp/faked.json")"
pub tuner "margot/test.mc/$cid/explore" '{"knobs":{"variant":"cpu"}}'
sleep 2 # the selector takes knowledge within a status period
is "$tmp/a.json" "j['predictions']" "$n" || fail "user tuner's faked knowledge reached the selector"
echo "ok: user tuner cannot send knowledge (the selector took none)"
pub learner margot/test.mc/prediction "$(cat "$tmp/faked.json")"
wait_for 10 "control: the same knowledge from user learner is taken" \
  is "$tmp/a.json" "j['predictions']" "$((n + 1))"

accel=kfarm/accel/$node/$vf
pub tuner "$accel" '{"state":"paused"}' -r
sleep 2
is "$tmp/a.json" "j['accel_available']" 1 || fail "user tuner faked an accelerator state"
sub tuner "$accel" 5 "$tmp/retained.txt" -C 1
[[ "$(cat "$tmp/retained.txt")" == "$accel {\"state\":\"active\"}" ]] ||
  fail "the retained state is not ESFM's: $(cat "$tmp/retained.txt")"
echo "ok: user tuner cannot fake an accelerator state (selector and retained state unchanged)"
pub esfm "$accel" '{"state":"paused"}' -r
wait_for 10 "control: the same message from user esfm reaches the selector" \
  is "$tmp/a.json" "j['accel_available']" 0

sub observer 'margot/+/observation/+' 3 "$tmp/obs-observer.txt"
grep -q "^margot/test.mc/observation/$cid " "$tmp/obs-observer.txt" ||
  fail "control: user observer read no observation in 3 s: $(head -c 300 "$tmp/obs-observer.txt")"
echo "ok: control: user observer reads the selector's observations"
sub tuner 'margot/+/observation/+' 3 "$tmp/obs-tuner.txt"
! grep -q "^margot/" "$tmp/obs-tuner.txt" || fail "user tuner read other clients' observations"
echo "ok: user tuner cannot read observations ($(head -n 1 "$tmp/obs-tuner.txt.err"))"
echo PASS
