#!/usr/bin/env bash
# jobs/demo.sbatch passes its arguments to kfarm as they are: a value with spaces (a --trace path
# in a directory whose name has a space) stays one argument, on the private Slurm cluster.
set -euo pipefail
source "${KFARM_SOURCE_DIR:?}/tests/harness/slurm_job_checks.sh"
build=${KFARM_BUILD_DIR:?}
tmp=$(mktemp -d /tmp/kfarm-ops-job.XXXXXX)
j=
cleanup() { [[ -z $j ]] || scancel "$j" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
dir="$tmp/a dir with spaces"
mkdir -p "$dir"
j=$(sbatch --parsable --chdir="$dir" -o "$dir/job.log" -n 2 \
  --export=ALL,KFARM="$build/src/kfarm/kfarm",KFARM_ENDPOINT_FILE="$dir/endpoints" \
  "$KFARM_SOURCE_DIR/jobs/demo.sbatch" --adapter echo --trace "$dir/my trace.tsv")
serving() { [[ -s $dir/endpoints ]] || { job_done "$j" && fail "job $j ended: $(cat "$dir/job.log")"; false; }; }
wait_until 90 "job $j serving" serving
reply=$("$build/src/client/kfarm-client" --endpoint-file "$dir/endpoints" --kind echo \
  --data "with space" -n 3 --print --quiet) || fail "kfarm-client: $reply"
grep -q "with space" <<<"$reply" || fail "client got: $reply"
scancel --signal=TERM "$j"
wait_until 60 "job $j done" job_done "$j"
j=
[[ -f "$dir/my trace.tsv" ]] ||
  fail "no trace at '$dir/my trace.tsv' (the path was split): $(ls "$dir"; cat "$dir/job.log")"
n=$(grep -vc '^#' "$dir/my trace.tsv" || true)
((n >= 3)) || fail "the trace has $n replies, want 3"
pass "demo.sbatch --trace '<dir with spaces>/my trace.tsv': $n replies traced there"
