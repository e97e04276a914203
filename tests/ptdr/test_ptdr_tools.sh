#!/usr/bin/env bash
# ptdr tools: ptdr-gen is deterministic and its profiles have rush hours and quiet weekends;
# ptdr-convert round-trips to the same answers; ptdr-run gives the same replies on both variants.
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

# Binary form: same answers as the JSON it came from.
"$conv" "$dir/a.json" "$dir/a.bin" >/dev/null
"$conv" --info "$dir/a.bin" | grep -q "40 segments" || fail "ptdr-convert --info"
"$run" profiles="$dir/a.json" seed=9 <"$dir/r1" >"$dir/from-json"
"$run" profiles="$dir/a.bin" seed=9 <"$dir/r1" >"$dir/from-bin"
cmp -s "$dir/from-json" "$dir/from-bin" || fail "JSON and binary profiles answer differently"
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
