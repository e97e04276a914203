#!/usr/bin/env bash
# Runs the ptdr benchmark on 1 and on 2 cores over a generated map (cached in $PTDR_BENCH_DIR).
# Usage: bench/ptdr/run.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${KFARM_BUILD_DIR:-$top/build}}
data=${PTDR_BENCH_DIR:-/tmp/kfarm-ptdr-bench}
mkdir -p "$data"
if [ ! -s "$data/map.bin" ]; then
    "$build/tools/ptdr/ptdr-gen" profiles --segments 2000 --seed 1 -o "$data/map.json"
    "$build/tools/ptdr/ptdr-convert" "$data/map.json" "$data/map.bin"
    rm -f "$data/map.json"
fi
"$build/tools/ptdr/ptdr-convert" --info "$data/map.bin"
for cores in 1 2; do
    echo
    "$build/bench/ptdr/ptdr_bench" "$data/map.bin" "$cores"
done
