# shellcheck shell=bash disable=SC2154  # tmp, pids and brokers come from the caller
# Shared by the shell tests that run kfarm's MQTT clients against private brokers
# (tests/harness/mosquitto) with all their files in $tmp: the EXIT trap, JSON checks, bounded waits.
# Sourced. The caller sets tmp (a temp dir), pids (background processes it starts) and brokers
# (the broker dirs it may start), then `trap mqtt_test_cleanup EXIT`.
mosquitto_harness=${KFARM_SOURCE_DIR:?}/tests/harness/mosquitto

# Stops everything the test started; fails it on a sanitizer report in $tmp/*.log; shows the
# logs when it failed; removes $tmp.
mqtt_test_cleanup() {
  local rc=$? p d f
  # A background job killed before it exec'd its program is still a copy of this shell and
  # runs this trap on SIGTERM: it must not stop the brokers or remove $tmp under our feet.
  [[ $BASHPID == "$$" ]] || return 0
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "${brokers[@]}"; do "$mosquitto_harness" stop "$d" || true; done
  # sanitizer builds: a leak or UB report from any of our processes fails the test
  if ((rc == 0)) && grep -l "Sanitizer\|runtime error" "$tmp"/*.log >/dev/null 2>&1; then
    echo "sanitizer report in $(grep -l "Sanitizer\|runtime error" "$tmp"/*.log)" >&2
    rc=1
  fi
  if ((rc != 0)); then
    echo "--- FAILED; logs from $tmp:" >&2
    for f in "$tmp"/*.log "$tmp"/*.json "$tmp"/mqtt/mosquitto.log; do
      [[ -f $f ]] && { echo "== $f" >&2; tail -n 40 "$f" >&2; }
    done
  fi
  rm -rf "$tmp"
  exit $rc
}

fail() { echo "FAIL: $*" >&2; exit 1; }
# json FILE EXPR: evaluates a python expression over the parsed file as `j` (empty if unreadable)
json() { /usr/bin/python3 -c "import json,sys
try: j=json.load(open(sys.argv[1]))
except Exception: sys.exit(1)
print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null || true; }
# is FILE EXPR VALUE: EXPR over the JSON in FILE prints VALUE
is() { [[ "$(json "$1" "$2")" == "$3" ]]; }
# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds, fails the test after SECONDS
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out waiting for: $what"
    sleep 0.1
  done
  echo "ok: $what"
}
