#!/usr/bin/env bash
# VFs as a Slurm GRES across nodes (tests/harness/slurm-multinode, 3 nodes): node1 has no FPGA,
# node2 has fpgavf:ptdr-v1:2 (its PF runs ptdr-v1), node3 fpgavf:ptdr-v2:2; kfarm's cli_filter
# and gres=fpgavf in plugstack.conf. A job with --fpga-vfs and no bitstream never lands on node1;
# --fpga-bitstream=ptdr-v1 lands on node2, ptdr-v2 on node3, each with its VFs attached to that
# node's VM only; a job asking node1 for VFs (-w node1) is refused at submit. In a KFARM_SANITIZE
# build the harness preloads the ASan runtime (KFARM_SANITIZER_PRELOAD); a report fails the test.
set -euo pipefail
B=${KFARM_BUILD_DIR:?}
S=${KFARM_SOURCE_DIR:?}
H=$S/tests/harness/slurm-multinode
SUBNET=${KFARM_SPANK_GRES_SUBNET:-10.213.79}
NODES=3
T=$(mktemp -d /tmp/kfarm-spank-gres-mn-XXXXXX)
chmod 755 "$T"
C=$T/cluster
N=$C/nodes # N/nodeI is /tmp/node on nodeI
O=$C/out
PF=0000:01:00.0
cleanup() {
  local rc=$?
  [[ $BASHPID == "$$" ]] || return 0
  if ((rc != 0)) && [[ -e $C/multinode.env ]]; then
    { squeue -o '%i %T %N %R %b'; sinfo -N -o '%N %T %G %E'; } >&2 2>/dev/null || true
    tail -n 15 "$C"/log/slurmd.node*.log >&2 2>/dev/null || true
  fi
  "$H" stop "$C" >/dev/null 2>&1 || true
  if [[ -d $C ]] && ! "$H" sanitizer-check "$C"; then
    echo "FAIL: a sanitizer reported an error in a Slurm process that loaded spank_kfarm.so" >&2
    rc=1
  fi
  if ((rc != 0)); then
    cp -r "$T" "/tmp/kfarm-spank-gres-mn-failed-$$" 2>/dev/null &&
      echo "kept $T as /tmp/kfarm-spank-gres-mn-failed-$$" >&2
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
source "$S/tests/harness/slurm_job_checks.sh"

esfm_on() { "$B/src/esfm/esfm" --sysfs-root "$N/node$1/sys" --state-dir "$N/node$1/esfm" \
    --connect "fake://$N/node$1/hv.json" "${@:2}"; }
# How many VFs ESFM on node I holds for job J on VM nodeI.
nvfs_of() { esfm_on "$1" --json list-vfs | JOB=$2 VM=node$1 /usr/bin/python3 -c '
import json,os,sys
print(sum(1 for r in json.load(sys.stdin) if r["job"]==os.environ["JOB"] and r["vm"]==os.environ["VM"]))'; }

for ((i = 1; i <= NODES; i++)); do
  d=$N/node$i
  mkdir -p "$d"
  "$B/tests/esfm/fake-tree" "$d/sys" pf $PF 8 pci-pf-stub >/dev/null
  echo "{\"domains\":{\"node$i\":{\"device_pause\":true}}}" >"$d/hv.json"
  "$B/tests/esfm/esfm-fakekernel" --sysfs-root "$d/sys" --state-dir "$d/esfm" \
    --connect "fake://$d/hv.json" init $PF --vfs $((i == 1 ? 0 : 2)) >/dev/null
done
SHA=3f1a9c0e6b2d4f8a7c5e1b9d0a2c4e6f8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90
cat >"$C/policy.json" <<JSON
{"vfs":{"per_job":2,"per_user":4},"bitstream_dir":"/opt/kfarm","bitstreams":[
 {"name":"ptdr-v1","path":"/opt/kfarm/ptdr-v1.xclbin","sha256":"$SHA"},
 {"name":"ptdr-v2","path":"/opt/kfarm/ptdr-v2.xclbin","sha256":"$SHA"}]}
JSON
chmod 644 "$C/policy.json"
cat >"$C/plugstack.conf" <<CONF
required $B/src/spank/spank_kfarm.so hypervisor=fake:///tmp/node/hv.json domain=%n policy=$C/policy.json state_dir=/tmp/node/spank esfm_state_dir=/tmp/node/esfm sysfs_root=/tmp/node/sys gres=fpgavf scontrol=$(command -v scontrol)
CONF
"$H" start "$C" --nodes $NODES --cpus 2 --subnet "$SUBNET" --plugstack "$C/plugstack.conf" \
  --gres-node 2:fpgavf:ptdr-v1:2 --gres-node 3:fpgavf:ptdr-v2:2 \
  --cli-filter "$S/src/cli_filter/cli_filter.lua" >"$T/start.log" 2>&1 ||
  { cat "$T/start.log" >&2; fail "cluster did not start"; }
eval "$("$H" env "$C")"
mkdir -p "$O"
cd "$O"
pass "sinfo -N -o '%N %G': $(sinfo -h -N -o '%N=%G' | paste -sd' ')"

# submit ARGS...: a job that records where it ran and its KFARM_*, then waits for go.<id>.
submit() {
  sbatch --parsable -o "$O/%j.out" "$@" --wrap 'echo node=$(hostname) accel=$KFARM_ACCEL bdfs=$KFARM_VF_BDFS; touch started.$SLURM_JOB_ID
for i in $(seq 600); do [ -e go.$SLURM_JOB_ID ] && exit 0; sleep 0.1; done; exit 3'
}
vm_empty() { esfm_on "$1" --json list-vf-vm | /usr/bin/python3 -c 'import json,sys; sys.exit(len(json.load(sys.stdin)) > 0)'; }
node_of() { sed -n 's/^node=\([^ ]*\) .*/\1/p' "$O/$1.out"; }
accel_of() { sed -n 's/.* accel=\([^ ]*\) .*/\1/p' "$O/$1.out"; }

# ptdr-v2 first: without the typed request Slurm would put it on node2 (the first node that fits).
j2=$(submit --fpga-vfs=2 --fpga-bitstream=ptdr-v2)
wait_until 60 "job $j2 started" test -e "$O/started.$j2"
j1=$(submit --fpga-vfs=1 --fpga-bitstream=ptdr-v1)
wait_until 60 "job $j1 started" test -e "$O/started.$j1"
[[ $(node_of "$j1") == node2 && $(accel_of "$j1") == 1 && $(nvfs_of 2 "$j1") == 1 ]] ||
  fail "ptdr-v1 job $j1: $(cat "$O/$j1.out"); node2 ESFM: $(nvfs_of 2 "$j1")"
[[ $(node_of "$j2") == node3 && $(accel_of "$j2") == 1 && $(nvfs_of 3 "$j2") == 2 ]] ||
  fail "ptdr-v2 job $j2: $(cat "$O/$j2.out"); node3 ESFM: $(nvfs_of 3 "$j2")"
pass "--fpga-bitstream=ptdr-v1 ran on node2 ($(cat "$O/$j1.out")), ptdr-v2 on node3 ($(cat "$O/$j2.out"))"
# node2 has one VF left, node3 none: an untyped request can only go to node2.
j3=$(submit --fpga-vfs=1)
wait_until 60 "job $j3 started" test -e "$O/started.$j3"
[[ $(node_of "$j3") == node2 && $(accel_of "$j3") == 1 && $(nvfs_of 2 "$j3") == 1 ]] ||
  fail "untyped job $j3: $(cat "$O/$j3.out")"
pass "--fpga-vfs=1 (any bitstream) ran on node2, the only node with a free VF, never node1"
out=$(sbatch -w node1 --fpga-vfs=1 --wrap true 2>&1) && fail "-w node1 --fpga-vfs=1 accepted: $out"
pass "-w node1 --fpga-vfs=1 refused at submit: $out"
touch "go.$j1" "go.$j2" "go.$j3"
for j in "$j1" "$j2" "$j3"; do wait_until 60 "job $j done" job_done "$j"; done
for i in 2 3; do
  wait_until 30 "node$i released" vm_empty "$i"
done
pass "all VFs released on node2 and node3"
