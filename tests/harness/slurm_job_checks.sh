# shellcheck shell=bash
# Checks shared by the shell tests that run Slurm jobs on a private cluster (tests/spank,
# tests/scale/spank_across_nodes.sh): verdicts, bounded waits, job states. Sourced.

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds, fails the test after
# SECONDS.
wait_until() {
  local t=$1 what=$2; shift 2
  local deadline=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${t}s waiting for: $what"
    sleep 0.2
  done
}

# Sorted comma-separated list from the words of $1 (commas and blanks separate).
sorted_list() { tr ', ' '\n\n' <<<"$1" | sed '/^$/d' | sort -u | paste -sd, -; }

# job_state JOB: its JobState (PENDING, RUNNING, COMPLETED, ...), empty once Slurm forgot it.
job_state() { scontrol -o show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_done() { case $(job_state "$1") in COMPLETED|FAILED|CANCELLED|TIMEOUT|"") return 0 ;; *) return 1 ;; esac; }
