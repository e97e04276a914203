#!/usr/bin/env bash
# The systemd units the packages ship (packaging/systemd/) pass `systemd-analyze verify` with no
# warning: ExecStart points at this build's programs (verify checks they are executable), and the
# options their config file (packaging/etc/) gives are accepted by the program's own parser.
set -euo pipefail
src=${KFARM_SOURCE_DIR:?} build=${KFARM_BUILD_DIR:?}
tmp=$(mktemp -d /tmp/kfarm-ops-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found: apt-get install systemd"
declare -A built=([kfarm-learner]=src/tuner/kfarm-learner [kfarm-observer]=src/tuner/kfarm-observer
                  [esfmd]=src/esfm/esfmd)
declare -A installed=([kfarm-learner]=/usr/bin/kfarm-learner [kfarm-observer]=/usr/bin/kfarm-observer
                      [esfmd]=/usr/sbin/esfmd)
status=0
for unit in kfarm-learner kfarm-observer esfmd; do
  file=$src/packaging/systemd/$unit.service
  [[ -f $file ]] || fail "packaging/systemd/$unit.service missing"
  grep -q "^ExecStart=${installed[$unit]} " "$file" || fail "$unit.service does not start ${installed[$unit]}"
  bin=$(find "$build" -type f -name "$unit" -perm -u+x | head -1)
  [[ -n $bin ]] || bin=$build/${built[$unit]}
  if [[ ! -x $bin ]]; then
    echo "FAIL: $unit is not built in $build: cannot verify $unit.service's ExecStart"
    status=1
    continue
  fi
  sed "s|^ExecStart=${installed[$unit]}|ExecStart=$bin|" "$file" >"$tmp/$unit.service"
  out=$(cd "$tmp" && systemd-analyze verify --man=no "./$unit.service" 2>&1) ||
    { echo "FAIL: $unit.service: $out"; status=1; continue; }
  [[ -z $out ]] || { echo "FAIL: $unit.service: systemd-analyze warns: $out"; status=1; continue; }
  echo "ok: $unit.service verifies"
done
# The default options in the config files are ones the programs accept: each starts with them
# (against a broker port nobody listens on) and runs until stopped, instead of exiting 2.
for unit in kfarm-learner kfarm-observer; do
  conf=$src/packaging/etc/$unit.conf
  [[ -f $conf ]] || fail "packaging/etc/$unit.conf missing"
  var=$(sed -n 's/^\(KFARM_[A-Z_]*_OPTS\)=.*/\1/p' "$conf")
  [[ -n $var ]] || fail "$conf sets no KFARM_*_OPTS"
  opts=$(set -a; source "$conf"; echo "${!var}")
  opts=${opts//\/var\/lib\/$unit/$tmp\/$unit}
  opts=${opts//localhost:1883/127.0.0.1:9}
  mkdir -p "$tmp/$unit/knowledge"
  # shellcheck disable=SC2086 # split on purpose, as systemd does
  timeout 3 "$build/src/tuner/$unit" $opts >"$tmp/$unit.log" 2>&1 && rc=0 || rc=$?
  [[ $rc == 124 ]] || { echo "FAIL: $unit with $conf's options exited $rc: $(cat "$tmp/$unit.log")"; status=1; }
done
((status == 0)) && echo "ok: units verify, config files' options accepted"
exit $status
