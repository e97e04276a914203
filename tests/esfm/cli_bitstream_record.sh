#!/usr/bin/env bash
# esfm CLI: the bitstream a PF runs, as ESFM flashed it (FAKE flasher /bin/cp): unknown before any
# flash, then init --bitstream and reconf PF N --bitstream record name and sha256, which status
# (text and --json) and list-vfs --json show; a refused flash leaves the record as it was.
. "$(dirname "$0")/cli_lib.sh"
new_env true
printf abc >"$T/v1.bit"
printf def >"$T/v2.bit"
V1=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
V2=cb8379ac2098aa165029e3938a51da0bcecfc008fd6795f401178647f96c5b34
cat >"$T/policy.json" <<JSON
{"bitstream_dir":"$T","bitstreams":[{"name":"v1","path":"$T/v1.bit","sha256":"$V1"},
 {"name":"v2","path":"$T/v2.bit","sha256":"$V2"},
 {"name":"bad","path":"$T/v1.bit","sha256":"$(printf '%064d' 0)"}],
 "flash_command":["/bin/cp","{bitstream}","$T/flashed"]}
JSON
chmod 644 "$T/policy.json"
p() { esfm --policy "$T/policy.json" "$@"; }
p init $PF --vfs 2 >/dev/null
out=$(p status)
grep -qF "PF $PF driver pci-pf-stub VFs 2/8 bitstream unknown (not flashed by esfm)" <<<"$out" ||
  fail "status before any flash: $out"
[[ $(p --json list-vfs | json 'print(d[0]["bitstream"])') == None ]] || fail "list-vfs before"
echo "ok: never flashed: status says unknown, list-vfs --json bitstream null"

p init $PF --vfs 2 --bitstream v1 >/dev/null
[[ $(cat "$T/flashed") == abc ]] || fail "the FAKE flasher did not get v1"
grep -qF "PF $PF driver pci-pf-stub VFs 2/8 bitstream v1 (sha256 $V1)" <<<"$(p status)" ||
  fail "status after init --bitstream v1: $(p status)"
[[ $(p --json status | json 'print(d["pfs"][0]["bitstream"], d["pfs"][0]["bitstream_sha256"])') == "v1 $V1" ]] ||
  fail "status --json: $(p --json status)"
echo "ok: init --bitstream v1 recorded: $(p status | head -1)"

p attach $VF0 vm1 >/dev/null
p reconf $PF 3 --bitstream v2 >/dev/null
[[ $(cat "$T/flashed") == def ]] || fail "reconf --bitstream did not flash v2"
[[ $(p --json list-vfs | json 'print(len(d), {(r["bitstream"], r["bitstream_sha256"]) for r in d} == {("v2", "'$V2'")})') == "3 True" ]] ||
  fail "list-vfs --json after reconf: $(p --json list-vfs)"
echo "ok: reconf $PF 3 --bitstream v2 re-flashed and recorded; list-vfs --json shows v2 on all 3 VFs"

set +e; out=$(p reconf $PF 3 --bitstream bad 2>&1); rc=$?; set -e
((rc == 3)) && grep -q "refusing to flash" <<<"$out" || fail "bad sha256: $rc $out"
grep -qF "bitstream v2 (sha256 $V2)" <<<"$(p status)" || fail "record changed by a refused flash"
echo "ok: a refused flash (wrong sha256) keeps the record v2"
