#!/usr/bin/env bash
# The guest harness reports what happened: the script's own exit code, files and environment given
# on the command line are in the guest, and a QEMU that rejects its arguments is exit 125, not 0.
set -euo pipefail
run=${KFARM_SOURCE_DIR:?}/tests/harness/guest/run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "payload $RANDOM" >"$tmp/data.txt"
cat >"$tmp/script.sh" <<'SCRIPT'
[ "$(cat /etc/kfarm-data.txt)" = "$KF_WANT" ] || { echo "file or env missing"; exit 1; }
/kfarm/true || exit 1
grep -q '^pci_pf_stub ' /proc/modules || { echo "module not loaded"; exit 1; }
exit 7
SCRIPT
rc=0
"$run" --quiet --timeout 60 --module pci-pf-stub --file "$tmp/data.txt:/etc/kfarm-data.txt" \
  --file /usr/bin/true --env "KF_WANT=$(cat "$tmp/data.txt")" --log "$tmp/console.log" \
  --script "$tmp/script.sh" || rc=$?
((rc == 7)) || { cat "$tmp/console.log"; fail "guest script exit 7 came back as $rc"; }
grep -q '^KFARM-GUEST-EXIT=7' <(tr -d '\r' <"$tmp/console.log") || fail "--log lacks the exit marker"
echo "ok: exit code 7, --file, --env, --module, --log"

rc=0
"$run" --quiet --script "$tmp/script.sh" -- -device no-such-device 2>"$tmp/err" || rc=$?
((rc == 125)) || fail "QEMU argument error gave $rc, want 125"
grep -q "no-such-device" "$tmp/err" || fail "QEMU's error is not shown: $(cat "$tmp/err")"
echo "ok: QEMU argument error is exit 125 with QEMU's message"

rc=0
"$run" --quiet --module no_such_module --script "$tmp/script.sh" 2>"$tmp/err" || rc=$?
((rc == 2)) || fail "unknown module gave $rc, want 2"
echo "ok: unknown module is a usage error: $(cat "$tmp/err")"
