#!/usr/bin/env bash
# The job prolog and the bitstream a PF runs (ESFM's record), plugstack reflash=allow, GRES
# fpgavf:4 untyped, FAKE flasher /bin/cp: the PF was flashed with v1 by `esfm init --bitstream`;
# job A asks v1 and gets a VF without a flash; job B asks v2 while A holds a VF: no re-flash, B
# runs on CPU with the reason (fallback cpu), the node is not drained; once A ended, job C asks v2:
# the prolog re-flashes the PF with v2 (esfm status shows it) and C gets its VF.
source "$(dirname "$0")/spank_lib.sh"
printf abc >"$T/v1.bit"
printf def >"$T/v2.bit"
V1=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
V2=cb8379ac2098aa165029e3938a51da0bcecfc008fd6795f401178647f96c5b34
SPANK_PLUGSTACK_EXTRA="gres=fpgavf scontrol=$(command -v scontrol) reflash=allow"
SPANK_CLUSTER_ARGS=(--gres fpgavf:4 --cli-filter "$S/src/cli_filter/cli_filter.lua")
spank_setup '{"vfs":{"per_job":4,"per_user":4},"bitstream_dir":"'"$T"'","bitstreams":[
 {"name":"v1","path":"'"$T"'/v1.bit","sha256":"'$V1'"},{"name":"v2","path":"'"$T"'/v2.bit","sha256":"'$V2'"}],
 "flash_command":["/bin/cp","{bitstream}","'"$T"'/flashed"]}'
cd "$T"
"$B/tests/esfm/esfm-fakekernel" --policy "$T/policy.json" --sysfs-root "$T/sys" --state-dir "$T/esfm" \
  --connect "fake://$T/hv.json" init $PF --vfs 6 --bitstream v1 >/dev/null
pf_bitstream() { esfm --json status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pfs"][0]["bitstream"])'; }
[[ $(pf_bitstream) == v1 && $(cat "$T/flashed") == abc ]] || fail "esfm init --bitstream v1: $(esfm status)"

submit() {
  local name=$1; shift
  sbatch --parsable -o "$T/$name.slurm" "$@" \
    --wrap "env | grep ^KFARM_ | sort >$T/$name.out; for i in \$(seq 600); do [ -e $T/go.$name ] && exit 0; sleep 0.1; done" | cut -d';' -f1
}
started() { [[ -s $T/$1.out ]]; }
accel_of() { sed -n 's/^KFARM_ACCEL=//p' "$T/$1.out"; }

JA=$(submit A --fpga-vfs=1 --fpga-bitstream=v1)
wait_until 60 "job A started" started A
[[ $(accel_of A) == 1 && $(pf_bitstream) == v1 ]] || fail "job A (v1): $(cat "$T/A.out")"
! grep -q "re-flashed" "$CLUSTER"/log/slurmd.kfnode1.log || fail "job A caused a re-flash"
pass "job A asks v1, the PF runs v1: KFARM_ACCEL=1, no flash"
JB=$(submit B --fpga-vfs=1 --fpga-bitstream=v2)
wait_until 60 "job B started" started B
[[ $(accel_of B) == 0 ]] || fail "job B got a VF of a v1 PF: $(cat "$T/B.out")"
grep -q "^KFARM_ACCEL_REASON=PF $PF has bitstream v1, the job asks for v2, and 1 of its VFs are in use: it cannot be re-flashed now" "$T/B.out" ||
  fail "job B's reason: $(cat "$T/B.out")"
[[ $(pf_bitstream) == v1 && $(cat "$T/flashed") == abc && $(node_state) != *DRAIN* ]] ||
  fail "after job B: PF $(pf_bitstream), node $(node_state)"
pass "job B asks v2 while A holds a VF: no re-flash, KFARM_ACCEL=0 with the reason, node not drained"
touch "$T/go.A" "$T/go.B"
wait_until 60 "jobs A and B done" job_done "$JB"
wait_until 60 "job A done" job_done "$JA"
wait_until 60 "no VF on the VM" no_vfs_on_vm
JC=$(submit C --fpga-vfs=1 --fpga-bitstream=v2)
wait_until 60 "job C started" started C
[[ $(accel_of C) == 1 && $(pf_bitstream) == v2 && $(cat "$T/flashed") == def ]] ||
  fail "job C (v2, PF idle): $(cat "$T/C.out"); PF $(pf_bitstream)"
grep -q "kfarm: re-flashed PF $PF with v2 (it had v1)" "$CLUSTER"/log/slurmd.kfnode1.log ||
  fail "slurmd log lacks the re-flash"
pass "job C asks v2, the PF is idle: the prolog re-flashed it (esfm status: $(esfm status | head -1)), KFARM_ACCEL=1"
touch "$T/go.C"
wait_until 60 "job C done" job_done "$JC"
wait_until 60 "no VF on the VM" no_vfs_on_vm
