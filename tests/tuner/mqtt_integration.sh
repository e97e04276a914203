#!/usr/bin/env bash
# MQTT integration of the tuner with a real mosquitto started here: kfarm-learner + 2 selector
# clients converge on the same knowledge; a killed client (kia) is dropped; a late joiner gets
# the knowledge after a broker restart; the observer writes hints after injected environment
# changes (accelerator paused, CPU 5x slower); a client with no broker still decides.
set -euo pipefail
build=${KFARM_BUILD_DIR:?}
src=${KFARM_SOURCE_DIR:?}
harness=$src/tests/harness/mosquitto
client=$build/tests/tuner/selector_client
tmp=$(mktemp -d /tmp/kfarm-tuner-mqtt.XXXXXX)
pids=()
# shellcheck disable=SC2034  # read by mqtt_test_lib.sh
brokers=("$tmp/mqtt")
source "$src/tests/harness/mqtt_test_lib.sh"
trap mqtt_test_cleanup EXIT

port=$("$harness" start "$tmp/mqtt")
url=tcp://127.0.0.1:$port

"$build/src/tuner/kfarm-learner" --broker "$url" --state "$tmp/learner.json" \
  --knowledge-dir "$tmp" --observations 5 --verbose 2>"$tmp/learner.log" & pids+=($!)
"$build/src/tuner/kfarm-observer" --broker "$url" --hints "$tmp/hints.json" --threshold 0.5 \
  --samples 5 --knowledge-dir "$tmp" 2>"$tmp/observer.log" & pids+=($!)
wait_for 10 "learner and observer connected" grep -q connected "$tmp/learner.log"
sleep 0.5 # the observer subscribes in the same way; give it its first round trip

"$client" --broker "$url" --status "$tmp/a.json" --node n1 --accel-bdf 0000:01:00.1 2>"$tmp/a.log" & pids+=($!); pa=$!
"$client" --broker "$url" --status "$tmp/b.json" --node n1 --accel-bdf 0000:01:00.2 2>"$tmp/b.log" & pids+=($!); pb=$!

# 1. both clients receive the same knowledge and exploit it: CPU for 8 units, accel for 1000
wait_for 30 "learner built knowledge" is "$tmp/learner.json" "j['apps']['test.mc']['state']" learned
wait_for 10 "client a got the knowledge" is "$tmp/a.json" "j['predictions']>=1" True
wait_for 10 "client b got the knowledge" is "$tmp/b.json" "j['predictions']>=1" True
ha=$(json "$tmp/a.json" "j['prediction_hash']"); hb=$(json "$tmp/b.json" "j['prediction_hash']")
[[ $ha == "$hb" && $ha != 0000000000000000 ]] || { echo "knowledge differs: $ha vs $hb" >&2; exit 1; }
echo "ok: same knowledge hash $ha"
for c in a b; do
  wait_for 10 "client $c exploits cpu@8 accel@1000" is "$tmp/$c.json" \
    "(j['variant']['8'], j['variant']['1000'], j['reason'])" "('cpu', 'accel', 'exploiting')"
done
# the knowledge says the same: accel beats cpu at 1024 units, cpu beats accel at 8
json "$tmp/test.mc.json" "{(o['features']['size'],o['knobs']['variant']):o['metrics']['time_per_unit'][0] for o in j['mc'] if o['features']['accel_available']==1}" >"$tmp/k.txt"
/usr/bin/python3 - "$tmp/k.txt" <<'PY'
import ast,sys
k=ast.literal_eval(open(sys.argv[1]).read())
assert k[(1024,'accel')] < k[(1024,'cpu')], k
assert k[(8,'cpu')] < k[(8,'accel')], k
print("ok: knowledge ranks the variants as the synthetic kernel does")
PY

# 2. a client killed without a goodbye is dropped through its last will
cid_b=$(json "$tmp/b.json" "j['client']")
kill -9 "$pb"
wait_for 20 "learner dropped $cid_b (kia)" is "$tmp/learner.json" \
  "('$cid_b' in j['apps']['test.mc']['dropped'], '$cid_b' in j['apps']['test.mc']['clients'])" "(True, False)"

# 3. the broker restarts: clients reconnect on their own, a late joiner gets the knowledge
"$harness" restart "$tmp/mqtt"
"$client" --broker "$url" --status "$tmp/c.json" --node n2 --accel-bdf 0000:02:00.1 2>"$tmp/c.log" & pids+=($!); pc=$!
wait_for 20 "late joiner got the same knowledge" is "$tmp/c.json" "(j['predictions']>=1, j['prediction_hash'])" "(True, '$ha')"
wait_for 20 "client a reconnected" is "$tmp/a.json" "j['mqtt_connected']" 1
cid_a=$(json "$tmp/a.json" "j['client']"); cid_c=$(json "$tmp/c.json" "j['client']")
wait_for 20 "learner knows a and c again (welcome repeated until answered)" is "$tmp/learner.json" \
  "sorted(j['apps']['test.mc']['clients'])==sorted(['$cid_a','$cid_c'])" True

# 4. ESFM pauses a's accelerator: CPU from the next decision, the observer sees the hardware
#    feature change, asks for relearning, keeps both knowledge versions, and hints a's gain
mosquitto_pub -p "$port" -t kfarm/accel/n1/0000:01:00.1 -m '{"state":"paused"}' -q 1
wait_for 10 "client a falls back to cpu" is "$tmp/a.json" \
  "(j['accel_available'], j['variant']['1000'], j['reason'].startswith('fallback'))" "(0, 'cpu', True)"
wait_for 30 "observer asked for relearning (hardware change)" is "$tmp/hints.json" \
  "j['apps']['test.mc']['relearn_requests']>=1 and 'hardware feature accel_available' in j['apps']['test.mc']['last_relearn_reason']" True
wait_for 60 "relearned knowledge kept beside the old one" is "$tmp/hints.json" \
  "j['apps']['test.mc']['knowledge_versions']>=2" True
wait_for 20 "hints: a (paused) would gain with the accelerator at 1024 units" is "$tmp/hints.json" \
  "[h['gain_with_other_resources']['accel_available=1']>1.5 for h in j['apps']['test.mc']['clients']['$cid_a'] if h['features']['accel_available']==0 and h['features']['size']==1024]" "[True]"
wait_for 20 "hints: happiness of a < 1 while paused" is "$tmp/hints.json" \
  "[h['happiness']<0.8 for h in j['apps']['test.mc']['clients']['$cid_a'] if h['features']['size']==1024]" "[True]"

# 5. the accelerator returns: a re-explores it and uses it again where it is faster
mosquitto_pub -p "$port" -t kfarm/accel/n1/0000:01:00.1 -m '{"state":"active"}' -q 1
wait_for 20 "client a uses the accelerator again" is "$tmp/a.json" \
  "(j['accel_available'], j['variant']['1000'])" "(1, 'accel')"

# 6. injected slowdown: c's CPU variant becomes 5x slower; the observer sees the drift
#    (its return was a hardware change too: let that relearning finish first)
wait_for 60 "relearning after the accelerator's return finished" is "$tmp/hints.json" \
  "(j['apps']['test.mc']['relearn_requests']>=2, j['apps']['test.mc']['knowledge_versions']>=3, j['apps']['test.mc']['relearning'])" "(True, True, False)"
req=$(json "$tmp/hints.json" "j['apps']['test.mc']['relearn_requests']")
kill -USR1 "$pc"
wait_for 30 "observer asked for relearning (drift)" is "$tmp/hints.json" \
  "j['apps']['test.mc']['relearn_requests']>$req and 'observed/expected' in j['apps']['test.mc']['last_relearn_reason']" True

# 7. no broker at all: decisions go on, calibrated locally
dead=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$client" --broker "tcp://127.0.0.1:$dead" --status "$tmp/d.json" --duration 1.5 --period-ms 1 2>"$tmp/d.log"
is "$tmp/d.json" "(j['decisions']>200, j['predictions'], j['mqtt_connected'], j['reason'])" "(True, 0, 0, 'exploiting')" \
  || { echo "no-broker client did not decide: $(cat "$tmp/d.json")" >&2; exit 1; }
echo "ok: without a broker the client calibrated and exploits locally"
echo "PASS"
