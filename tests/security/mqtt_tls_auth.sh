#!/usr/bin/env bash
# MQTT user/password and TLS for every kfarm MQTT client, against a real mosquitto started here
# (tests/harness/mosquitto start-tls: TLS-only listener, no anonymous clients, a password file
# from mosquitto_passwd, a test CA and certificates made with the openssl command now).
#  1. kfarm-learner, kfarm-observer and a selector client (the tuner library's real link, as in
#     kfarm's workers) exchange welcome/observation/knowledge over TLS as user `tuner`.
#  2. ESFM publishes its VF state over TLS as user `esfm`: mosquitto_sub with the same
#     credentials and the selector (accel_available) both get it.
#  3. Refused, each with its clear error: a wrong password (learner, observer, selector, ESFM),
#     no user (anonymous), a plain tcp:// client on the TLS listener, a CA that did not sign the
#     broker's certificate, a group-readable password file, TLS options on a tcp:// URI.
#  4. A broker with require_certificate: ESFM with --mqtt-cert/--mqtt-key in, without it out.
#  5. A broker whose certificate (from the right CA) names another host: refused.
set -euo pipefail
build=${KFARM_BUILD_DIR:?}
src=${KFARM_SOURCE_DIR:?}
harness=$src/tests/harness/mosquitto
client=$build/tests/tuner/selector_client
learner=$build/src/tuner/kfarm-learner
observer=$build/src/tuner/kfarm-observer
esfm_bin=$build/tests/esfm/esfm-fakekernel
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
tmp=$(mktemp -d /tmp/kfarm-mqtt-tls.XXXXXX)
pids=()
# shellcheck disable=SC2034  # read by mqtt_test_lib.sh
brokers=("$tmp/mqtt" "$tmp/mqtt-cert" "$tmp/mqtt-host")
source "$src/tests/harness/mqtt_test_lib.sh"
trap mqtt_test_cleanup EXIT

has() { grep -qF -- "$2" "$1" 2>/dev/null; } # has FILE TEXT
# expect_error WHAT WANT COMMAND...: the command fails and says WANT on stderr
expect_error() {
  local what=$1 want=$2; shift 2
  if "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; then fail "$what: succeeded: $(cat "$tmp/out.txt")"; fi
  has "$tmp/err.txt" "$want" || fail "$what: expected '$want', got: $(cat "$tmp/err.txt")"
  echo "ok: $what -> $(head -n 1 "$tmp/err.txt")"
}

# --- broker, credentials -----------------------------------------------------------------------
tuner_pw=$(openssl rand -hex 12)
esfm_pw=$(openssl rand -hex 12)
port=$("$harness" start-tls "$tmp/mqtt" "tuner:$tuner_pw" "esfm:$esfm_pw")
url=$("$harness" url "$tmp/mqtt")
[[ $url == "ssl://127.0.0.1:$port" ]] || fail "harness url: $url"
ca=$tmp/mqtt/ca.crt
umask 077
printf '%s\n' "$tuner_pw" >"$tmp/tuner.pw"
printf '%s\n' "$esfm_pw" >"$tmp/esfm.pw"
printf 'not-%s\n' "$tuner_pw" >"$tmp/wrong.pw"
umask 022
cp "$tmp/tuner.pw" "$tmp/readable.pw" && chmod 644 "$tmp/readable.pw"
TUNER=(--mqtt-cafile "$ca" --mqtt-username tuner --mqtt-password-file "$tmp/tuner.pw")
ESFM=(--mqtt-cafile "$ca" --mqtt-username esfm --mqtt-password-file "$tmp/esfm.pw")
SUB=(-h 127.0.0.1 -p "$port" --cafile "$ca" -u esfm -P "$esfm_pw")

# --- 1. learner + observer + selector over TLS as `tuner` ----------------------------------------
"$learner" --broker "$url" "${TUNER[@]}" --state "$tmp/learner.json" --knowledge-dir "$tmp" \
  --observations 5 --client-id sec-learner 2>"$tmp/learner.log" & pids+=($!)
"$observer" --broker "$url" "${TUNER[@]}" --hints "$tmp/hints.json" --client-id sec-observer \
  2>"$tmp/observer.log" & pids+=($!)
wait_for 10 "learner connected over TLS" has "$tmp/learner.log" "kfarm-learner: connected"
wait_for 10 "broker saw the learner and observer log in as user tuner" \
  eval "has '$tmp/mqtt/mosquitto.log' \"as sec-learner (p2, c1, k3, u'tuner')\" &&
        has '$tmp/mqtt/mosquitto.log' \"as sec-observer (p2, c1, k3, u'tuner')\""

node=$(hostname)
vf=0000:01:00.1
"$client" --broker "$url" "${TUNER[@]}" --status "$tmp/a.json" --node "$node" --accel-bdf "$vf" \
  2>"$tmp/a.log" & pids+=($!)
wait_for 30 "learner built knowledge from the selector's observations (TLS)" \
  is "$tmp/learner.json" "j['apps']['test.mc']['state']" learned
wait_for 10 "selector got the knowledge back (TLS)" is "$tmp/a.json" "j['predictions']>=1" True
cid=$(json "$tmp/a.json" "j['client']")
wait_for 10 "observer heard the selector's observations (TLS)" \
  is "$tmp/hints.json" "'$cid' in j['apps']['test.mc']['clients']" True

# --- 2. ESFM publishes VF states over TLS as `esfm` ----------------------------------------------
"$build/tests/esfm/fake-tree" "$tmp/sys" pf 0000:01:00.0 4 pci-pf-stub 0 >/dev/null
echo '{"domains":{"vm1":{"device_pause":true}}}' >"$tmp/hv.json"
esfm() { "$esfm_bin" --sysfs-root "$tmp/sys" --state-dir "$tmp/esfm-state" \
  --connect "fake://$tmp/hv.json" "$@"; }
esfm init 0000:01:00.0 --vfs 2 >/dev/null
mosquitto_sub "${SUB[@]}" -v -t "kfarm/accel/#" -C 2 -W 30 >"$tmp/sub.txt" 2>"$tmp/sub.log" &
sub=$!
pids+=($sub)
wait_for 10 "mosquitto_sub (user esfm) subscribed" has "$tmp/mqtt/mosquitto.log" "u'esfm')"
sleep 0.3 # its SUBSCRIBE follows the CONNECT; the log shows only the latter
esfm --mqtt "$url" "${ESFM[@]}" attach "$vf" vm1 >"$tmp/esfm.log" 2>&1 || fail "esfm attach: $(cat "$tmp/esfm.log")"
wait_for 10 "selector: ESFM says the accelerator is active" is "$tmp/a.json" "j['accel_available']" 1
esfm --mqtt "$url" "${ESFM[@]}" pause "$vf" >>"$tmp/esfm.log" 2>&1 || fail "esfm pause: $(cat "$tmp/esfm.log")"
wait_for 10 "selector: ESFM says the accelerator is paused" is "$tmp/a.json" "j['accel_available']" 0
wait "$sub" || fail "mosquitto_sub got: $(cat "$tmp/sub.txt") $(cat "$tmp/sub.log")"
want="kfarm/accel/$node/$vf {\"state\":\"active\"}
kfarm/accel/$node/$vf {\"state\":\"paused\"}"
[[ "$(cat "$tmp/sub.txt")" == "$want" ]] || fail "mosquitto_sub got: $(cat "$tmp/sub.txt")"
echo "ok: mosquitto_sub with ESFM's credentials got active, paused over TLS"

# --- 3. refused, with clear errors -------------------------------------------------------------
refused="MQTT broker $url refused user tuner: not authorised (check --mqtt-username/--mqtt-password-file)"
anonymous="MQTT broker $url refused an anonymous client: not authorised"
BAD=(--mqtt-cafile "$ca" --mqtt-username tuner --mqtt-password-file "$tmp/wrong.pw")
"$learner" --broker "$url" "${BAD[@]}" --state "$tmp/l2.json" --client-id bad-learner \
  2>"$tmp/bad-learner.log" & pids+=($!)
"$observer" --broker "$url" "${BAD[@]}" --hints "$tmp/h2.json" --client-id bad-observer \
  2>"$tmp/bad-observer.log" & pids+=($!)
"$client" --broker "$url" "${BAD[@]}" --status "$tmp/bad.json" 2>"$tmp/bad-client.log" & pids+=($!)
"$learner" --broker "$url" --mqtt-cafile "$ca" --state "$tmp/l3.json" --client-id anon-learner \
  2>"$tmp/anon-learner.log" & pids+=($!)
"$learner" --broker "tcp://127.0.0.1:$port" --mqtt-username tuner \
  --mqtt-password-file "$tmp/tuner.pw" --state "$tmp/l4.json" --client-id plain-learner \
  2>"$tmp/plain-learner.log" & pids+=($!)
wait_for 15 "learner, wrong password: '$refused'" has "$tmp/bad-learner.log" "$refused"
wait_for 5 "observer, wrong password: refused" has "$tmp/bad-observer.log" "$refused"
wait_for 5 "selector, wrong password: refused" has "$tmp/bad-client.log" "$refused"
wait_for 5 "learner without a user: '$anonymous'" has "$tmp/anon-learner.log" "$anonymous"
wait_for 5 "plain tcp:// learner on the TLS listener: cannot connect" \
  has "$tmp/plain-learner.log" "cannot connect to MQTT broker tcp://127.0.0.1:$port"
sleep 2 # they keep retrying (once a second): still refused, and said once, not per retry
for c in bad-learner bad-observer anon-learner plain-learner; do
  ! has "$tmp/$c.log" "connected" || fail "$c connected: $(cat "$tmp/$c.log")"
  ! has "$tmp/mqtt/mosquitto.log" "as $c " || fail "the broker let $c in"
  (($(wc -l <"$tmp/$c.log") == 1)) || fail "$c logged the same refusal more than once: $(cat "$tmp/$c.log")"
done
is "$tmp/bad.json" "(j['mqtt_connected'], j['predictions'])" "(0, 0)" ||
  fail "selector with a wrong password: $(cat "$tmp/bad.json")"
echo "ok: refused clients stayed out (broker log) and said why once"

expect_error "esfm, wrong password" "$refused" \
  esfm --mqtt "$url" "${BAD[@]}" unpause "$vf"
expect_error "esfm, no user" "$anonymous" esfm --mqtt "$url" --mqtt-cafile "$ca" unpause "$vf"
expect_error "esfm, plain tcp:// on the TLS listener" \
  "cannot connect to MQTT broker tcp://127.0.0.1:$port" \
  esfm --mqtt "tcp://127.0.0.1:$port" --mqtt-username esfm --mqtt-password-file "$tmp/esfm.pw" \
  unpause "$vf"
mkdir "$tmp/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=another CA" -keyout "$tmp/other/ca.key" -out "$tmp/other/ca.crt" 2>/dev/null
expect_error "esfm, a CA that did not sign the broker's certificate (names the CA file)" \
  "its certificate does not verify against $tmp/other/ca.crt (--mqtt-cafile)" \
  esfm --mqtt "$url" --mqtt-cafile "$tmp/other/ca.crt" --mqtt-username esfm \
  --mqtt-password-file "$tmp/esfm.pw" unpause "$vf"
expect_error "learner, a CA that did not sign the broker's certificate" \
  "does not verify against $tmp/other/ca.crt" \
  timeout -s INT 5 "$learner" --broker "$url" --mqtt-cafile "$tmp/other/ca.crt" \
  --mqtt-username tuner --mqtt-password-file "$tmp/tuner.pw" --state "$tmp/l5.json"
expect_error "esfm, group/world-readable password file" \
  "--mqtt-password-file $tmp/readable.pw has mode 0644: group or others may read it" \
  esfm --mqtt "$url" --mqtt-cafile "$ca" --mqtt-username esfm \
  --mqtt-password-file "$tmp/readable.pw" unpause "$vf"
expect_error "learner, group/world-readable password file" "has mode 0644: group or others" \
  "$learner" --broker "$url" --mqtt-cafile "$ca" --mqtt-username tuner \
  --mqtt-password-file "$tmp/readable.pw" --state "$tmp/l6.json"
expect_error "esfm, TLS options with a tcp:// URI" \
  "--mqtt-cafile is for TLS, but the broker URI tcp://127.0.0.1:$port is plain TCP" \
  esfm --mqtt "tcp://127.0.0.1:$port" --mqtt-cafile "$ca" unpause "$vf"
expect_error "esfm, a user without a password file" "needs --mqtt-password-file" \
  esfm --mqtt "$url" --mqtt-cafile "$ca" --mqtt-username esfm unpause "$vf"
if mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$ca" -t x -C 1 -W 3 >/dev/null 2>&1; then
  fail "anonymous mosquitto_sub was let in"
fi
echo "ok: anonymous mosquitto_sub refused"
# the refused esfm commands changed nothing: the VF is still paused
esfm --json list-vfs | /usr/bin/python3 -c "import json,sys
v=[x for x in json.load(sys.stdin) if x.get('vf')=='$vf']
assert v and v[0].get('state')=='paused', v" || fail "a refused esfm command changed the VF"

# --- 4. require_certificate: the client certificate options --------------------------------------
MOSQUITTO_REQUIRE_CERTIFICATE=true "$harness" start-tls "$tmp/mqtt-cert" "esfm:$esfm_pw" >/dev/null
curl=$("$harness" url "$tmp/mqtt-cert")
cca=$tmp/mqtt-cert/ca.crt
esfm --mqtt "$curl" --mqtt-cafile "$cca" --mqtt-username esfm --mqtt-password-file "$tmp/esfm.pw" \
  --mqtt-cert "$tmp/mqtt-cert/client.crt" --mqtt-key "$tmp/mqtt-cert/client.key" \
  unpause "$vf" >"$tmp/esfm-cert.log" 2>&1 || fail "esfm with a client certificate: $(cat "$tmp/esfm-cert.log")"
echo "ok: esfm with --mqtt-cert/--mqtt-key on a broker that requires a client certificate"
expect_error "esfm without a client certificate on that broker" \
  "if it requires a client certificate, give --mqtt-cert and --mqtt-key" \
  esfm --mqtt "$curl" --mqtt-cafile "$cca" --mqtt-username esfm \
  --mqtt-password-file "$tmp/esfm.pw" pause "$vf"
"$harness" stop "$tmp/mqtt-cert"

# --- 5. the certificate must name the host: one for other.example, from the CA we trust ----------
MOSQUITTO_SERVER_NAMES=DNS:other.example "$harness" start-tls "$tmp/mqtt-host" "esfm:$esfm_pw" >/dev/null
hurl=$("$harness" url "$tmp/mqtt-host")
expect_error "esfm, a certificate for another host" \
  "Does its certificate name 127.0.0.1 (subjectAltName)?" \
  esfm --mqtt "$hurl" --mqtt-cafile "$tmp/mqtt-host/ca.crt" --mqtt-username esfm \
  --mqtt-password-file "$tmp/esfm.pw" pause "$vf"
! grep -qF "u'esfm')" "$tmp/mqtt-host/mosquitto.log" || fail "the broker let ESFM in"
echo PASS
