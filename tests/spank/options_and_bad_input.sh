#!/usr/bin/env bash
# srun/sbatch/salloc --help list the --fpga-* options; bad values (abc, -1, 0, over the policy's
# per-job cap, unknown bitstream, bad fallback) make sbatch and srun exit non-zero with a message
# that says what is allowed, before anything is queued: no job, no VF, the node stays idle.
source "$(dirname "$0")/spank_lib.sh"
spank_setup "$POLICY"
cd "$T"
# Slurm 22.05 runs SPANK job prologs/epilogs without a Prolog=/Epilog= script: none is configured.
! grep -qiE '^(Prolog|Epilog)=' "$SLURM_CONF" || fail "the test cluster has a Prolog/Epilog"

for cmd in srun sbatch salloc; do
  help=$($cmd --help 2>&1)
  for o in "--fpga-vfs=N" "--fpga-bitstream=NAME" "--fpga-fallback=cpu|fail"; do
    grep -qF -- "$o" <<<"$help" || fail "$cmd --help does not list $o"
  done
done
pass "srun, sbatch and salloc --help list --fpga-vfs, --fpga-bitstream, --fpga-fallback"

# expect_refused MESSAGE ARGS...: sbatch and srun both refuse ARGS with MESSAGE.
expect_refused() {
  local msg=$1 out rc; shift
  for cmd in sbatch srun; do
    if [[ $cmd == sbatch ]]; then
      out=$(sbatch "$@" --wrap true 2>&1) && rc=0 || rc=$?
    else
      out=$(timeout 20 srun --mpi=none "$@" true 2>&1) && rc=0 || rc=$?
    fi
    ((rc != 0)) || fail "$cmd $* was accepted: $out"
    ((rc != 124)) || fail "$cmd $* hung"
    grep -qF -- "$msg" <<<"$out" || fail "$cmd $*: message lacks '$msg': $out"
  done
  pass "sbatch/srun $* refused: $(grep -m1 kfarm <<<"$out")"
}
expect_refused "--fpga-vfs=abc is not allowed: give a whole number" --fpga-vfs=abc
expect_refused "--fpga-vfs=-1 is not allowed: give a whole number" --fpga-vfs=-1
expect_refused "--fpga-vfs=0 is not allowed" --fpga-vfs=0
expect_refused "the policy allows 1 to 4 per job" --fpga-vfs=999
expect_refused "the policy allows 1 to 4 per job" --fpga-vfs=5
expect_refused "bitstream 'nope' is not allowed; allowed: ptdr-v1" --fpga-vfs=1 --fpga-bitstream=nope
expect_refused "--fpga-bitstream=ptdr-v1 needs --fpga-vfs=N" --fpga-bitstream=ptdr-v1
expect_refused "--fpga-fallback=gpu is not allowed: use cpu" --fpga-vfs=1 --fpga-fallback=gpu

[[ -z $(squeue -h -o %i) ]] || fail "a refused request left a job: $(squeue)"
[[ $(sinfo -h -o %T) == idle && $(node_state) == IDLE ]] || fail "node is $(sinfo -h -o '%T %E')"
[[ -z $(vm_vfs) ]] || fail "VFs attached after refused requests: $(vm_vfs)"
pass "no job queued, no VF attached, node idle (not drained)"

# A good request with the allow-listed bitstream goes through.
out=$(timeout 30 srun --mpi=none --fpga-vfs=1 --fpga-bitstream=ptdr-v1 printenv KFARM_ACCEL 2>&1) \
  || fail "srun with an allowed request failed: $out"
[[ $out == 1 ]] || fail "srun --fpga-vfs=1: KFARM_ACCEL=$out"
pass "srun --fpga-vfs=1 --fpga-bitstream=ptdr-v1 runs with KFARM_ACCEL=1"
out=$(timeout 30 salloc --fpga-vfs=2 srun --mpi=none printenv KFARM_ACCEL KFARM_VF_BDFS 2>/dev/null) \
  || fail "salloc --fpga-vfs=2 failed: $out"
[[ $(head -1 <<<"$out") == 1 && $(tail -1 <<<"$out") == 0000:*,0000:* ]] || fail "salloc --fpga-vfs=2: $out"
pass "salloc --fpga-vfs=2 + srun: KFARM_ACCEL=1, KFARM_VF_BDFS=$(tail -1 <<<"$out")"
wait_until 30 "VFs detached after salloc" no_vfs_on_vm
wait_until 30 "node idle after salloc" node_idle
pass "after salloc: no VF on the VM, node idle"
