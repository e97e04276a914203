#!/usr/bin/env bash
# kfarm-learner and kfarm-observer refuse a malformed or out-of-range number option with exit 2
# and a message naming the option and its range, before they try to reach a broker (a typo
# must not silently become 0). Well-formed values get past the check (and then fail to connect
# to a port nothing listens on, which is not what is checked here).
set -euo pipefail
B=${KFARM_BUILD_DIR:?}/src/tuner
fail() { echo "FAIL: $*" >&2; exit 1; }
refused() { # refused PROG 'message part' args...
    local prog=$1 msg=$2; shift 2
    set +e; out=$(timeout 5 "$B/$prog" --broker tcp://127.0.0.1:9 "$@" 2>&1); rc=$?; set -e
    [ "$rc" = 2 ] || fail "$prog $*: exit $rc, want 2: $out"
    grep -qF -- "$msg" <<<"$out" || fail "$prog $*: said '$out', want '$msg'"
    echo "ok: $prog $* -> $out"
}
accepted() { # accepted PROG args...: gets past option parsing (then tries the broker)
    local prog=$1; shift
    set +e; out=$(timeout 3 "$B/$prog" --broker tcp://127.0.0.1:9 "$@" 2>&1); rc=$?; set -e
    grep -q "cannot connect to MQTT broker" <<<"$out" || fail "$prog $*: exit $rc: $out"
    echo "ok: $prog $* accepted"
}
refused kfarm-learner "--observations abc: expected a whole number from 1 to 1000000" --observations abc
refused kfarm-learner "--samples -1: expected a whole number from 1" --samples -1
refused kfarm-learner "--samples 0: expected a whole number from 1" --samples 0
refused kfarm-learner "--max-full 3x: expected a whole number from 0" --max-full 3x
refused kfarm-learner "--seed 4294967296: expected a whole number from 0 to 4294967295" --seed 4294967296
refused kfarm-learner "--observations : expected" --observations ""
accepted kfarm-learner --observations 5 --max-full 0 --samples 3 --seed 4294967295
H=/nonexistent/hints.json
refused kfarm-observer "--threshold xyz: expected a number above 0" --hints $H --threshold xyz
refused kfarm-observer "--threshold 0: expected a number above 0" --hints $H --threshold 0
refused kfarm-observer "--threshold nan: expected a number above 0" --hints $H --threshold nan
refused kfarm-observer "--samples 2.5: expected a whole number from 1" --hints $H --samples 2.5
accepted kfarm-observer --hints $H --threshold 0.25 --samples 7
echo PASS
