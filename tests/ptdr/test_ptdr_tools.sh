#!/usr/bin/env bash
# ptdr tools: ptdr-gen is deterministic and its profiles have rush hours and quiet weekends;
# ptdr-convert round-trips to the same answers; ptdr-run gives the same replies on both variants.
# The tools' command lines: --help and --version exit 0, bad values exit 2 naming the option and
# what it allows (ptdr-run --variant gpu), a request line that is not JSON makes ptdr-run exit 1.
set -euo pipefail
build=${KFARM_BUILD_DIR:?}
gen=$build/tools/ptdr/ptdr-gen conv=$build/tools/ptdr/ptdr-convert run=$build/tools/ptdr/ptdr-run
dir=$(mktemp -d /tmp/ptdr-tools-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Determinism: same arguments, same bytes; another seed, other bytes.
"$gen" profiles --segments 40 --seed 3 -o "$dir/a.json"
"$gen" profiles --segments 40 --seed 3 -o "$dir/b.json"
"$gen" profiles --segments 40 --seed 4 -o "$dir/c.json"
cmp -s "$dir/a.json" "$dir/b.json" || fail "ptdr-gen profiles is not deterministic"
cmp -s "$dir/a.json" "$dir/c.json" && fail "ptdr-gen ignores --seed"
"$gen" routes --segments 40 --seed 5 --requests 8 --alternatives 3 --length 30 -o "$dir/r1"
"$gen" routes --segments 40 --seed 5 --requests 8 --alternatives 3 --length 30 -o "$dir/r2"
cmp -s "$dir/r1" "$dir/r2" || fail "ptdr-gen routes is not deterministic"
[ "$(wc -l <"$dir/r1")" -eq 8 ] || fail "ptdr-gen routes: want 8 requests"
"$gen" profiles --bad 1 >/dev/null 2>&1 && fail "ptdr-gen accepts an unknown option"

# Command lines: exit 2 with a message naming the option and what is allowed.
refused() { # WANT-IN-MESSAGE COMMAND...: exits 2 and says WANT on stderr
  local want=$1; shift
  local rc=0; "$@" >/dev/null 2>"$dir/err" || rc=$?
  [[ $rc == 2 ]] && grep -qF -- "$want" "$dir/err" ||
    fail "$* exited $rc (want 2) with: $(cat "$dir/err") (want it to say $want)"
}
for t in "$gen" "$conv" "$run"; do
  "$t" --help | grep -q "usage: ${t##*/}" || fail "${t##*/} --help"
  [[ $("$t" --version) == "${t##*/} "[0-9]* ]] || fail "${t##*/} --version: $("$t" --version)"
  refused "unrecognized option" "$t" --no-such-option
done
refused "--max-bins 99: give a whole number from 2 to 64" "$gen" profiles --segments 4 --max-bins 99
refused "--segments -3" "$gen" routes --segments -3
refused "profiles or routes" "$gen" --segments 4 maps
refused "--variant gpu: allowed values are cpu and accel" "$run" --variant gpu
refused "--kind nope: unknown" "$run" --kind nope
refused "key=value" "$run" profiles
refused "--info FILE alone" "$conv" --info a b

# Binary form: same answers as the JSON it came from.
"$conv" "$dir/a.json" "$dir/a.bin" >/dev/null
"$conv" --info "$dir/a.bin" | grep -q "40 segments" || fail "ptdr-convert --info"
"$run" profiles="$dir/a.json" seed=9 <"$dir/r1" >"$dir/from-json"
"$run" profiles="$dir/a.bin" seed=9 <"$dir/r1" >"$dir/from-bin"
cmp -s "$dir/from-json" "$dir/from-bin" || fail "JSON and binary profiles answer differently"
# A line that is not JSON: an error on its line, the others answered, exit 1.
{ head -1 "$dir/r1"; echo '{not json'; sed -n 2p "$dir/r1"; } >"$dir/mixed"
rc=0; "$run" profiles="$dir/a.bin" seed=9 <"$dir/mixed" >"$dir/mixed.out" 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "ptdr-run with a non-JSON line exited $rc, want 1"
[[ $(sed -n 2p "$dir/mixed.out") == error:* && $(sed -n 1p "$dir/mixed.out") == [0-2] &&
   $(sed -n 3p "$dir/mixed.out") == [0-2] ]] || fail "ptdr-run mixed replies: $(cat "$dir/mixed.out")"
grep -qv '^[0-2]$' "$dir/from-json" && fail "monte-carlo replies must be route indexes 0..2"
"$run" --kind ptdr-stats --variant accel profiles="$dir/a.bin" seed=9 <"$dir/r1" >"$dir/s-acc"
"$run" --kind ptdr-stats profiles="$dir/a.bin" seed=9 <"$dir/r1" >"$dir/s-cpu"
cmp -s "$dir/s-acc" "$dir/s-cpu" || fail "ptdr-run: accel and cpu statistics differ"

# No OpenCL platform at all (empty ICD directory): the accelerator reports itself unavailable and
# the CPU variant answers, identically.
OCL_ICD_VENDORS=$dir/no-icd "$run" --kind ptdr-stats --variant accel profiles="$dir/a.bin" \
    seed=9 <"$dir/r1" >"$dir/s-noicd" 2>"$dir/noicd.err"
grep -q "accelerator unavailable" "$dir/noicd.err" || fail "no ICD: accelerator not reported unavailable"
cmp -s "$dir/s-noicd" "$dir/s-cpu" || fail "no ICD: CPU answers differ"

# Realism: the same 30-segment route is slower in the Monday 08:00 rush than at Monday 03:00,
# and than on Sunday 08:00.
route=$(head -1 "$dir/r1" | sed 's/.*"routes":\[\(\[[^]]*\]\).*/\1/')
mean_at() {
    echo "{\"routes\":[$route],\"departure_time\":$1,\"samples\":4000}" |
        "$run" --kind ptdr-stats profiles="$dir/a.bin" |
        sed 's/.*"mean":\([0-9.e+]*\).*/\1/'
}
rush=$(mean_at $((8 * 3600000))) night=$(mean_at $((3 * 3600000)))
sunday=$(mean_at $(((6 * 24 + 8) * 3600000)))
awk -v r="$rush" -v n="$night" -v s="$sunday" 'BEGIN { exit !(r > 1.05 * n && r > 1.05 * s) }' ||
    fail "no rush hour: Monday 08:00 $rush s, 03:00 $night s, Sunday 08:00 $sunday s"
echo "ok: rush $rush s, night $night s, Sunday $sunday s"
