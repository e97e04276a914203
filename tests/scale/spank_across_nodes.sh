#!/usr/bin/env bash
# spank_kfarm.so on a 4-node private cluster (tests/harness/slurm-multinode): one plugstack.conf
# for all nodes (domain=%n, state under /tmp/node, each node's own dir), each node with its own
# FAKE sysfs tree (one PF; node1-3 with 4 VFs, node4 with 1), ESFM state and FAKE hypervisor (VM
# named after the node). A -N4 job with --fpga-vfs=1 and one with --fpga-vfs=2 get their VFs
# attached on every node to that node's VM, the tasks on each node see that node's VFs, and all
# are detached on every node at the end; node4, short of VFs for --fpga-vfs=2, runs its tasks with
# KFARM_ACCEL=0 and the reason (fallback cpu) while the others accelerate, and with
# --fpga-fallback=fail the job fails on node4 only; the nodes are idle (never drained) after.
# In a KFARM_SANITIZE build the harness preloads the ASan runtime into the Slurm processes that
# load the plugin (KFARM_SANITIZER_PRELOAD, set by ctest); a sanitizer report fails the test.
set -euo pipefail
B=${KFARM_BUILD_DIR:?}
S=${KFARM_SOURCE_DIR:?}
[[ -e $B/src/spank/spank_kfarm.so ]] || { echo "FAIL: $B/src/spank/spank_kfarm.so not built (scripts/build)" >&2; exit 1; }
H=$S/tests/harness/slurm-multinode
SUBNET=${KFARM_SPANK_SUBNET:-10.213.78}
NODES=4
T=$(mktemp -d /tmp/kfarm-spank-mn-XXXXXX)
chmod 755 "$T"
C=$T/cluster
N=$C/nodes # N/nodeI is /tmp/node on nodeI
O=$C/out
PF=0000:01:00.0
cleanup() {
  local rc=$?
  # a background job killed before it exec'd runs this trap too: leave the cleanup to us
  [[ $BASHPID == "$$" ]] || return 0
  if ((rc != 0)) && [[ -e $C/multinode.env ]]; then
    { squeue -o '%i %T %N %R'; sinfo -N -o '%N %T %E'; } >&2 2>/dev/null || true
    tail -n 15 "$C"/log/slurmd.node*.log >&2 2>/dev/null || true
  fi
  "$H" stop "$C" >/dev/null 2>&1 || true
  if [[ -d $C ]] && ! "$H" sanitizer-check "$C"; then
    echo "FAIL: a sanitizer reported an error in a Slurm process that loaded spank_kfarm.so" >&2
    rc=1
  fi
  if ((rc != 0)); then
    cp -r "$T" "/tmp/kfarm-spank-mn-failed-$$" 2>/dev/null && echo "kept $T as /tmp/kfarm-spank-mn-failed-$$" >&2
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
source "$S/tests/harness/slurm_job_checks.sh"

# The admin's ESFM CLI on node I's fake tree, state and VM: esfm_on I ARGS...
esfm_on() { "$B/src/esfm/esfm" --sysfs-root "$N/node$1/sys" --state-dir "$N/node$1/esfm" \
    --connect "fake://$N/node$1/hv.json" "${@:2}"; }
# Guest addresses of the VFs ESFM on node I holds for job J and that are on VM nodeI: vfs_of I J.
vfs_of() {
  local vfs; vfs=$(esfm_on "$1" --json list-vfs)
  esfm_on "$1" --json list-vf-vm | JOB=$2 VM=node$1 VFS=$vfs /usr/bin/python3 -c '
import json,os,sys
owned={r["vf"] for r in json.loads(os.environ["VFS"]) if r["job"]==os.environ["JOB"]}
print(",".join(sorted(r["guest"] for r in json.load(sys.stdin)
                      if r["vf"] in owned and r["vm"]==os.environ["VM"])))'
}
# Every VF on node I's VM, whoever holds it.
vm_vfs() { esfm_on "$1" --json list-vf-vm | /usr/bin/python3 -c '
import json,sys
print(",".join(sorted(r["guest"] for r in json.load(sys.stdin))))'; }
all_idle() { [[ $(sinfo -h -N -o %T | sort -u) == idle ]]; }
# Nothing of job J left on any node: no VF on a VM, no plugin record.
all_released() {
  local i
  for ((i = 1; i <= NODES; i++)); do
    [[ -z $(vm_vfs "$i") && ! -e $N/node$i/spank/$1 ]] || return 1
  done
}

# Per node: FAKE sysfs tree, FAKE hypervisor with the VM "nodeI", VFs made by `esfm init` on the
# FAKE kernel. node4 gets a single VF.
for ((i = 1; i <= NODES; i++)); do
  d=$N/node$i
  mkdir -p "$d"
  "$B/tests/esfm/fake-tree" "$d/sys" pf $PF 8 pci-pf-stub >/dev/null
  echo "{\"domains\":{\"node$i\":{\"device_pause\":true}}}" >"$d/hv.json"
  "$B/tests/esfm/esfm-fakekernel" --sysfs-root "$d/sys" --state-dir "$d/esfm" \
    --connect "fake://$d/hv.json" init $PF --vfs $((i < NODES ? 4 : 1)) >/dev/null
done
echo '{"vfs":{"per_job":4,"per_user":4}}' >"$C/policy.json"
chmod 644 "$C/policy.json"
# One plugstack.conf for every node and the submit side: the node-local paths are the same on
# every node (/tmp/node is each node's own dir), the VM name follows the node (domain=%n).
cat >"$C/plugstack.conf" <<CONF
required $B/src/spank/spank_kfarm.so hypervisor=fake:///tmp/node/hv.json domain=%n policy=$C/policy.json state_dir=/tmp/node/spank esfm_state_dir=/tmp/node/esfm sysfs_root=/tmp/node/sys
CONF
"$H" start "$C" --nodes $NODES --cpus 4 --subnet "$SUBNET" --plugstack "$C/plugstack.conf" \
  >"$T/start.log" 2>&1 || { cat "$T/start.log" >&2; fail "cluster did not start"; }
eval "$("$H" env "$C")"
mkdir -p "$O"
cd "$O"

# A batch job whose step runs one task per node that prints what it sees, then waits for go.<id>.
JOB='srun --mpi=none --ntasks-per-node=1 bash -c "echo \$(hostname) accel=\$KFARM_ACCEL bdfs=\$KFARM_VF_BDFS reason=\$KFARM_ACCEL_REASON"
touch started.$SLURM_JOB_ID
for i in $(seq 600); do [ -e go.$SLURM_JOB_ID ] && exit 0; sleep 0.1; done; exit 3'
# task_line JOB NODE: what the task on NODE printed.
task_line() { grep "^node$2 " "$O/$1.out" || true; }

# run_job NVFS: a -N4 job with --fpga-vfs=NVFS; checks every node while it runs, then its end.
run_job() {
  local nvfs=$1 j i want line vfs
  j=$(sbatch --parsable -N$NODES --ntasks-per-node=1 --fpga-vfs="$nvfs" -o "$O/%j.out" --wrap "$JOB")
  wait_until 60 "job $j started" test -e "$O/started.$j"
  for ((i = 1; i <= NODES; i++)); do
    line=$(task_line "$j" "$i")
    vfs=$(vfs_of "$i" "$j")
    want=$nvfs
    ((i == NODES && nvfs > 1)) && want=0 # node4 has 1 VF
    if ((want == 0)); then
      [[ -z $vfs ]] || fail "job $j: node$i has '$vfs' though it has only 1 VF"
      [[ $line == "node$i accel=0 bdfs= reason="?* ]] || fail "job $j on node$i: '$line'"
      grep -q "kfarm: job $j gets no VFs (fallback cpu)" "$C/log/slurmd.node$i.log" \
        || fail "node$i's slurmd log lacks the fallback for job $j"
      pass "job $j (--fpga-vfs=$nvfs) on node$i: no VF attached, tasks run with KFARM_ACCEL=0 (${line#*reason=})"
      continue
    fi
    [[ $(tr ',' '\n' <<<"$vfs" | sed '/^$/d' | wc -l) == "$want" ]] \
      || fail "job $j: esfm on node$i shows '$vfs' on VM node$i, not $want VF(s)"
    [[ $line == "node$i accel=1 bdfs="*" reason=" ]] || fail "job $j on node$i: '$line'"
    line=${line#*bdfs=}
    [[ $(sorted_list "${line% reason=}") == "$vfs" ]] \
      || fail "job $j: the task on node$i saw '${line% reason=}', esfm on node$i shows '$vfs'"
    [[ $(grep -c "kfarm: job $j: $want VF(s) on node$i:" "$C/log/slurmd.node$i.log") == 1 ]] \
      || fail "node$i's slurmd log does not show one attach of job $j to VM node$i"
    pass "job $j (--fpga-vfs=$nvfs) on node$i: $vfs attached to VM node$i, its task sees them"
  done
  touch "$O/go.$j"
  wait_until 60 "job $j done" job_done "$j"
  [[ $(job_state "$j") == COMPLETED ]] || fail "job $j ended $(job_state "$j"): $(cat "$O/$j.out")"
  wait_until 30 "job $j's VFs detached and records removed on every node" all_released "$j"
  for ((i = 1; i <= NODES; i++)); do
    ((i == NODES && nvfs > 1)) && continue
    grep -q "kfarm: job $j: VFs detached" "$C/log/slurmd.node$i.log" \
      || fail "node$i's slurmd log lacks the detach of job $j"
  done
  wait_until 30 "all nodes idle after job $j" all_idle
  pass "job $j completed: its VFs are detached on every node, no record left, all nodes idle"
}
run_job 1
run_job 2

# --fpga-fallback=fail: node4 cannot have 2 VFs, so its task does not start and the job fails;
# what nodes 1-3 got is detached all the same.
out=$(timeout 60 srun --mpi=none -N$NODES --ntasks-per-node=1 --fpga-vfs=2 --fpga-fallback=fail \
  bash -c 'echo $(hostname) ran accel=$KFARM_ACCEL' 2>&1) && fail "srun with fallback=fail on node4 succeeded: $out"
grep -q "fpga-fallback=fail and got none" <<<"$out" || fail "srun's output lacks the reason: $out"
! grep -q "^node4 ran" <<<"$out" || fail "node4's task ran without VFs: $out"
jf=$(squeue -h --states=all -o '%i %j' | awk '$2 == "bash" {print $1}' | sort -n | tail -1)
[[ -n $jf ]] || fail "the fallback=fail job is not in squeue"
wait_until 30 "job $jf done" job_done "$jf"
wait_until 30 "job $jf's VFs detached on every node" all_released "$jf"
wait_until 30 "all nodes idle after job $jf" all_idle
pass "srun -N4 --fpga-vfs=2 --fpga-fallback=fail (job $jf): fails on node4 ($(grep -m1 -o 'got none: .*' <<<"$out")); detached on every node, all idle"
