#!/usr/bin/env bash
# FPGA VFs as a Slurm GRES (fpgavf:2 on the node; the FAKE node has 6 VFs in ESFM), with kfarm's
# cli_filter turning --fpga-vfs into the GRES request and spank_kfarm.so listed `optional`:
#  - refusals stop sbatch/srun although the plugin is optional (option callbacks, cli_filter);
#    a request beyond the node's GRES count is refused at submit (cli_filter and, for --gres by
#    hand, slurmctld), not left pending;
#  - job A holds both VFs, job B waits PENDING (Resources), gets a VF once A ends; --gres by hand
#    gets one too; a job cancelled while pending leaves nothing;
#  - ESFM has fewer free VFs than Slurm counts (an admin took some by hand): the job runs on CPU
#    with the reason, the node is drained with it, the next job waits until the admin resumes;
#  - ESFM unreachable (FAKE hypervisor state unreadable): the node is drained with its reason, and
#    a --fpga-fallback=fail job ends FAILED without running its task although the plugin is
#    optional; once ESFM is back and the node resumed, the next job gets its VF.
source "$(dirname "$0")/spank_lib.sh"
SPANK_LISTING=optional
SPANK_PLUGSTACK_EXTRA="gres=fpgavf scontrol=$(command -v scontrol)"
SPANK_CLUSTER_ARGS=(--gres fpgavf:2 --cli-filter "$S/src/cli_filter/cli_filter.lua")
spank_setup "$POLICY"
cd "$T"
grep -q '^optional ' "$T/plugstack.conf" || fail "plugstack.conf does not list the plugin optional"

[[ $(sinfo -h -o '%N %G') == "kfnode1 fpgavf:2" ]] || fail "sinfo %N %G: $(sinfo -h -o '%N %G')"
pass "sinfo -o '%N %G': kfnode1 fpgavf:2"

# --- refusals, plugin optional -------------------------------------------------------------
# refused MESSAGE ARGS...: sbatch and srun both exit non-zero with MESSAGE, nothing queued.
refused() {
  local msg=$1 out rc cmd; shift
  for cmd in sbatch srun; do
    if [[ $cmd == sbatch ]]; then
      out=$(sbatch "$@" --wrap true 2>&1) && rc=0 || rc=$?
    else
      out=$(timeout 20 srun --mpi=none "$@" true 2>&1) && rc=0 || rc=$?
    fi
    ((rc != 0 && rc != 124)) || fail "$cmd $* (plugin optional) exit $rc: $out"
    grep -qF -- "$msg" <<<"$out" || fail "$cmd $*: message lacks '$msg': $out"
  done
  [[ -z $(squeue -h -o %i) ]] || fail "$* left a job: $(squeue)"
  pass "optional plugin: sbatch/srun $* refused: $(grep -m1 -F -- "$msg" <<<"$out")"
}
refused "the policy allows 1 to 4 per job" --fpga-vfs=999999
refused "the policy allows 1 to 4 per job" --fpga-vfs=5
refused "--fpga-vfs=abc is not allowed" --fpga-vfs=abc
refused "bitstream 'nope' is not allowed; allowed: ptdr-v1" --fpga-vfs=1 --fpga-bitstream=nope
refused "--fpga-bitstream=ptdr-v1 needs --fpga-vfs=N" --fpga-bitstream=ptdr-v1
refused "--fpga-vfs=3: the most FPGA VFs a node has is 2 (GRES fpgavf)" --fpga-vfs=3
out=$(sbatch --gres=fpgavf:3 --wrap true 2>&1) && fail "--gres=fpgavf:3 accepted: $out"
grep -q "Requested node configuration is not available" <<<"$out" ||
  fail "--gres=fpgavf:3: $out"
pass "--gres=fpgavf:3 by hand refused by slurmctld: $out"

# --- waiting for VFs ---------------------------------------------------------------------------
# submit NAME ARGS...: a batch job writing its KFARM_* to NAME.out then sleeping; prints its id.
submit() {
  local name=$1; shift
  sbatch --parsable -o "$T/$name.slurm" "$@" \
    --wrap "env | grep ^KFARM_ | sort >$T/$name.out; exec sleep 300" | cut -d';' -f1
}
job_reason() { squeue -h -j "$1" -o %r; }
pending_for_resources() { [[ $(job_state "$1") == PENDING && $(job_reason "$1") == Resources ]]; }
running() { [[ $(job_state "$1") == RUNNING && -s $T/$2.out ]]; }
accel_of() { sed -n 's/^KFARM_ACCEL=//p' "$T/$1.out"; }
bdfs_of() { sed -n 's/^KFARM_VF_BDFS=//p' "$T/$1.out"; }

JA=$(submit A --fpga-vfs=2)
wait_until 60 "job A running" running "$JA" A
[[ $(accel_of A) == 1 && $(sorted_list "$(bdfs_of A)") == "$(job_vfs "$JA")" && -n $(job_vfs "$JA") ]] ||
  fail "job A: $(cat "$T/A.out"); esfm: $(job_vfs "$JA")"
[[ $(job_vfs "$JA" | tr , '\n' | wc -l) == 2 ]] || fail "job A has $(job_vfs "$JA")"
scontrol show job -d "$JA" | grep -q "GRES=fpgavf" || fail "job A has no fpgavf GRES: $(scontrol show job -d "$JA")"
pass "job A --fpga-vfs=2 runs with its 2 VFs ($(bdfs_of A)); Slurm: $(scontrol show job -d "$JA" | grep -o 'GRES=fpgavf[^ ]*' | head -1)"
JB=$(submit B --fpga-vfs=1)
wait_until 30 "job B pending (Resources)" pending_for_resources "$JB"
[[ -z $(job_vfs "$JB") && ! -e $T/spank/$JB ]] || fail "pending job B has VFs or a record"
pass "job B --fpga-vfs=1 waits: PENDING, reason Resources, no VF"
JD=$(submit D --fpga-vfs=1)
pending() { [[ $(job_state "$1") == PENDING ]]; }
wait_until 30 "job D pending" pending "$JD"
scancel "$JD"
wait_until 30 "job D cancelled" job_done "$JD"
scancel "$JA"
wait_until 60 "job B running after A" running "$JB" B
[[ $(accel_of B) == 1 && $(bdfs_of B) == "$(job_vfs "$JB")" && -n $(bdfs_of B) ]] ||
  fail "job B: $(cat "$T/B.out"); esfm: $(job_vfs "$JB")"
[[ -z $(job_vfs "$JA") && -z $(job_vfs "$JD") && ! -e $T/spank/$JD && ! -e $T/D.out ]] ||
  fail "A or cancelled D left VFs/records"
pass "A ended: B runs with KFARM_ACCEL=1 and its VF $(bdfs_of B) (no CPU fallback); D, cancelled while pending, never ran and holds nothing"
JC=$(submit C --gres=fpgavf:1)
wait_until 60 "job C (--gres by hand) running" running "$JC" C
[[ $(accel_of C) == 1 && $(bdfs_of C) == "$(job_vfs "$JC")" && -n $(bdfs_of C) && $(bdfs_of C) != "$(bdfs_of B)" ]] ||
  fail "job C --gres=fpgavf:1: $(cat "$T/C.out"); esfm: $(job_vfs "$JC")"
pass "--gres=fpgavf:1 by hand: KFARM_ACCEL=1 with its own VF $(bdfs_of C)"
scancel "$JB" "$JC"
wait_until 60 "B and C done" job_done "$JC"
wait_until 60 "no VF on the VM" no_vfs_on_vm
wait_until 60 "node idle" node_idle

# --- ESFM disagrees with Slurm: fewer free VFs than the GRES count -------------------------------
for _ in 1 2 3 4 5; do esfm attach kfnode1-vm >/dev/null || fail "admin attach by hand failed"; done
JE=$(submit E --fpga-vfs=2)
wait_until 60 "job E running" running "$JE" E
[[ $(accel_of E) == 0 ]] || fail "job E got VFs ESFM does not have: $(cat "$T/E.out")"
grep -q "^KFARM_ACCEL_REASON=.*only 1 are free.*node kfnode1 drained" "$T/E.out" ||
  fail "job E's reason: $(cat "$T/E.out")"
reason=$(scontrol show node kfnode1 | sed -n 's/^ *Reason=//p')
[[ $reason == kfarm:*"only 1 are free"* ]] || fail "node reason: $reason"
[[ $(node_state) == *DRAIN* ]] || fail "node not drained: $(node_state)"
grep -q "kfarm: node kfnode1 drained" "$CLUSTER"/log/slurmd.kfnode1.log || fail "no slurmd log line"
pass "ESFM has 1 free VF, Slurm counted 2: job E runs on CPU with the reason, node drained ($reason)"
scancel "$JE"
JF=$(submit F --fpga-vfs=1)
wait_until 60 "E done" job_done "$JE"
wait_until 30 "job F pending on the drained node" test "$(job_state "$JF")" == PENDING
for vf in $(esfm --json list-vf-vm | /usr/bin/python3 -c '
import json,sys
print(" ".join(r["vf"] for r in json.load(sys.stdin)))'); do
  esfm detach "$vf" >/dev/null || fail "detach $vf"
done
[[ $(job_state "$JF") == PENDING ]] || fail "job F was sent to the drained node: $(job_state "$JF")"
pass "job F stays PENDING ($(job_reason "$JF")) while the node is drained"
scontrol update nodename=kfnode1 state=resume
wait_until 60 "job F running after resume" running "$JF" F
[[ $(accel_of F) == 1 ]] || fail "job F after resume: $(cat "$T/F.out")"
pass "admin resumes the node: job F runs with KFARM_ACCEL=1"
scancel "$JF"
wait_until 60 "F done" job_done "$JF"
wait_until 60 "no VF on the VM" no_vfs_on_vm

# --- ESFM unreachable ----------------------------------------------------------------------------
cp "$T/hv.json" "$T/hv.json.good"
echo 'not json' >"$T/hv.json"
# --fpga-fallback=fail with the plugin optional: Slurm ignores an optional plugin's failing
# task_init, so the plugin ends the task itself; the job must end FAILED without running.
JG=$(sbatch --parsable -o "$T/G.slurm" --fpga-vfs=1 --fpga-fallback=fail \
  --wrap "touch $T/G.ran; env | grep ^KFARM_ | sort >$T/G.out; exec sleep 300" | cut -d';' -f1)
wait_until 60 "job G ended" job_done "$JG"
[[ $(job_state "$JG") == FAILED && ! -e $T/G.ran ]] ||
  fail "job G (fail, ESFM unreachable): $(job_state "$JG"), ran: $(ls "$T"/G.ran 2>&1)"
grep -q "fpga-fallback=fail and got none: fake hypervisor.*not valid JSON (node kfnode1 drained)" \
  "$T/G.slurm" || fail "job G's error output: $(cat "$T/G.slurm")"
reason=$(scontrol show node kfnode1 | sed -n 's/^ *Reason=//p')
[[ $reason == kfarm:*"not valid JSON"* && $(node_state) == *DRAIN* ]] ||
  fail "node after unreachable ESFM: $(node_state) $reason"
pass "ESFM unreachable: job G (--fpga-fallback=fail, plugin optional) FAILED without running its task, node drained ($reason)"
cp "$T/hv.json.good" "$T/hv.json"
scontrol update nodename=kfnode1 state=resume
wait_until 30 "node idle after resume" node_idle
JH=$(submit H --fpga-vfs=1)
wait_until 60 "job H running" running "$JH" H
[[ $(accel_of H) == 1 ]] || fail "job H after ESFM is back: $(cat "$T/H.out")"
pass "ESFM back and node resumed: job H runs with KFARM_ACCEL=1"
scancel "$JH"
wait_until 60 "H done" job_done "$JH"
wait_until 60 "no VF on the VM" no_vfs_on_vm
