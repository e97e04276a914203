#!/usr/bin/env bash
# VFs over a job's life on a real Slurm 22.05 with spank_kfarm.so: attached once before the tasks
# start and seen by every task and step; detached at the end of a normal job, a scancel'ed job, a
# job killed at its time limit and a plain srun; two concurrent jobs get disjoint VFs; a third over
# the per-user cap is refused (fail) or runs on the CPU (cpu); a job that ended without its
# epilog is cleaned by the next prolog; the node is idle (never drained) after each.
source "$(dirname "$0")/spank_lib.sh"
spank_setup "$POLICY"
O=$T/out
mkdir -p "$O"
cd "$O"

# A batch job that prints what each of its steps' tasks see, then waits for $O/go.<jobid>.
JOB='for s in 1 2; do srun --mpi=none -n2 bash -c "echo step$s task \$SLURM_PROCID accel=\$KFARM_ACCEL bdfs=\$KFARM_VF_BDFS reason=\$KFARM_ACCEL_REASON"; done
echo batch accel=$KFARM_ACCEL bdfs=$KFARM_VF_BDFS
touch started.$SLURM_JOB_ID
for i in $(seq 300); do [ -e go.$SLURM_JOB_ID ] && exit 0; sleep 0.1; done; exit 3'
submit() { sbatch --parsable -n2 -o "$O/%j.out" "$@" --wrap "$JOB"; }
started() { [[ -e $O/started.$1 ]]; }
# The BDFs the batch step saw.
seen() { sed -n 's/^batch accel=1 bdfs=//p' "$O/$1.out"; }
vfs_gone() { [[ -z $(job_vfs "$1") ]]; }
ended_clean() { # ended_clean JOB: no VF for it, no record, node idle (or mixed: the time-limit job)
  wait_until 30 "job $1 done" job_done "$1"
  wait_until 30 "job $1's VFs detached" vfs_gone "$1"
  wait_until 30 "job $1's record removed" test ! -e "$T/spank/$1"
  if [[ $1 == "$tl" ]]; then
    wait_until 30 "node idle after job $1" node_idle
  else
    wait_until 30 "node serving after job $1" node_serving
  fi
}

# Time limit (1 minute; slurmctld checks limits every 30 s): runs in the background of the rest
# and holds 1 of root's per-user budget of 4 VFs.
tl=$(sbatch --parsable --time=1 --fpga-vfs=1 -o "$O/%j.out" \
  --wrap 'echo batch accel=$KFARM_ACCEL bdfs=$KFARM_VF_BDFS; exec sleep 300')

# 1. Normal exit, two steps of two tasks each.
j=$(submit --fpga-vfs=2)
wait_until 30 "job $j started" started "$j"
during=$(job_vfs "$j")
[[ $during == *,* && $during != *,*,* ]] || fail "during job $j esfm shows '$during', not 2 VFs"
[[ $(sorted_list "$(seen "$j")") == "$during" ]] || fail "job $j tasks saw '$(seen "$j")', esfm '$during'"
for s in 1 2; do for k in 0 1; do
  grep -qx "step$s task $k accel=1 bdfs=$(seen "$j") reason=" "$O/$j.out" \
    || fail "step $s task $k of job $j: $(cat "$O/$j.out")"
done; done
[[ $(grep -c "kfarm: job $j: 2 VF(s)" "$CLUSTER"/log/slurmd.kfnode1.log) == 1 ]] \
  || fail "job $j was attached more than once"
pass "job $j (--fpga-vfs=2): esfm shows $during on kfnode1-vm; batch and 2x2 step tasks see them; attached once"
touch "go.$j"
ended_clean "$j"
[[ $(job_state "$j") == COMPLETED ]] || fail "job $j ended $(job_state "$j")"
pass "job $j completed: its VFs are detached, node not drained"

# 2. scancel mid-job.
j=$(submit --fpga-vfs=1)
wait_until 30 "job $j started" started "$j"
[[ -n $(job_vfs "$j") ]] || fail "job $j holds no VF"
scancel "$j"
ended_clean "$j"
[[ $(job_state "$j") == CANCELLED ]] || fail "job $j ended $(job_state "$j")"
pass "scancel'ed job $j: VFs detached, node not drained"

# 3. Two concurrent jobs (2 + 1 VFs, with the time-limit job's 1 = root's cap of 4), then a third
#    and a fourth over the cap.
a=$(submit --fpga-vfs=2)
b=$(submit --fpga-vfs=1)
wait_until 30 "jobs $a and $b started" bash -c "[[ -e $O/started.$a && -e $O/started.$b ]]"
va=$(job_vfs "$a") vb=$(job_vfs "$b")
[[ -n $va && -n $vb ]] || fail "concurrent jobs hold '$va' and '$vb'"
for x in ${va//,/ }; do [[ ,$vb, != *,$x,* ]] || fail "jobs $a and $b share VF $x"; done
[[ $(sorted_list "$(seen "$a")") == "$va" && $(sorted_list "$(seen "$b")") == "$vb" ]] \
  || fail "tasks saw $(seen "$a") / $(seen "$b")"
pass "concurrent jobs $a ($va) and $b ($vb) hold disjoint VFs"
c=$(sbatch --parsable -o "$O/%j.out" --fpga-vfs=1 --fpga-fallback=fail \
  --wrap 'echo tasks ran; touch ran.$SLURM_JOB_ID')
wait_until 30 "job $c done" job_done "$c"
[[ $(job_state "$c") == FAILED ]] || fail "job $c over the cap ended $(job_state "$c")"
[[ ! -e ran.$c ]] || fail "job $c's tasks ran without VFs despite --fpga-fallback=fail"
grep -q "fpga-fallback=fail and got none: user 0 holds 4 VFs and asks 1 more; the policy allows 4 per user" \
  "$O/$c.out" || fail "job $c's output lacks the reason: $(cat "$O/$c.out")"
pass "job $c over the per-user cap with --fpga-fallback=fail: refused ($(grep -m1 -o 'user 0 holds.*' "$O/$c.out"))"
d=$(sbatch --parsable -o "$O/%j.out" --fpga-vfs=1 \
  --wrap 'echo accel=$KFARM_ACCEL bdfs=$KFARM_VF_BDFS reason=$KFARM_ACCEL_REASON')
wait_until 30 "job $d done" job_done "$d"
[[ $(job_state "$d") == COMPLETED ]] || fail "job $d ended $(job_state "$d")"
grep -q "^accel=0 bdfs= reason=.*allows 4 per user" "$O/$d.out" || fail "job $d: $(cat "$O/$d.out")"
pass "job $d over the cap with the default --fpga-fallback=cpu: runs with KFARM_ACCEL=0 and the reason"
wait_until 30 "node serving" node_serving
touch "go.$a" "go.$b"
ended_clean "$a"
ended_clean "$b"
pass "jobs $a and $b ended: VFs detached"

# 4. A plain srun job step (prolog at step launch).
out=$(timeout 30 srun --mpi=none -n2 --fpga-vfs=1 bash -c 'echo $SLURM_JOB_ID $KFARM_VF_BDFS')
[[ $(sort -u <<<"$out" | wc -l) == 1 && $out == *" 0000:"* ]] || fail "srun tasks saw: $out"
sj=${out%% *}
ended_clean "$sj"
pass "srun -n2 --fpga-vfs=1 (job $sj): both tasks see ${out##* }; detached after"

# 5. A job that ended without an epilog (slurmd crash): its record and VF are left behind; the
#    next job prolog on the node releases them.
esfm job-attach 67000000 kfnode1-vm 1 >/dev/null
printf 'job=67000000\nuid=0\nnvfs=1\naccel=1\nfallback=cpu\n' >"$T/spank/67000000"
[[ -n $(job_vfs 67000000) ]] || fail "setup: stale job holds no VF"
timeout 30 srun --mpi=none true
[[ -z $(job_vfs 67000000) && ! -e $T/spank/67000000 ]] || fail "stale job 67000000 not cleaned"
grep -q "job 67000000 ended without its epilog; its VFs are detached" "$CLUSTER"/log/slurmd.kfnode1.log \
  || fail "no cleanup line in slurmd's log"
pass "the next prolog released the VF of job 67000000 that ended without its epilog"

# 6. The time-limit job. It may have hit its limit already when the steps above were slow (the
#    sanitizer pass on a loaded machine); its output shows the VF it held while it ran.
state=$(job_state "$tl")
[[ $state == TIMEOUT || ( $state == RUNNING && -n $(job_vfs "$tl") ) ]] \
  || fail "time-limit job $tl: $state, VFs '$(job_vfs "$tl")'"
wait_until 150 "job $tl hits its time limit" job_done "$tl"
[[ $(job_state "$tl") == TIMEOUT ]] || fail "job $tl ended $(job_state "$tl")"
ended_clean "$tl"
grep -q "^batch accel=1 bdfs=0000:" "$O/$tl.out" || fail "job $tl: $(cat "$O/$tl.out")"
pass "job $tl killed at its time limit: VFs detached, node idle"

[[ -z $(vm_vfs) ]] || fail "VFs left on kfnode1-vm: $(vm_vfs)"
[[ -z $(ls "$T/spank") ]] || fail "records left: $(ls "$T/spank")"
[[ $(node_state) == IDLE ]] || fail "node $(node_state)"
pass "nothing left: no VF on the VM, no record, node idle"
