# Shared setup for the SPANK integration tests (sourced): a FAKE sysfs tree with one SR-IOV PF
# and 6 VFs (ESFM's fake-tree + `esfm init` on its FAKE kernel), the FAKE hypervisor with the VM
# kfnode1-vm, an ESFM policy, and a private Slurm cluster whose plugstack.conf loads
# spank_kfarm.so. Everything is stopped and removed on exit.
# In a KFARM_SANITIZE build the harness preloads the ASan runtime into slurmd, slurmstepd, srun and
# sbatch (KFARM_SANITIZER_PRELOAD, set by ctest), and a sanitizer report fails the test.
set -euo pipefail
B=${KFARM_BUILD_DIR:?}
S=${KFARM_SOURCE_DIR:?}
T=$(mktemp -d /tmp/kfarm-spank-XXXXXX)
chmod 755 "$T"
CLUSTER=$T/cluster
PF=0000:01:00.0
cleanup() {
  local rc=$?
  # a background job killed before it exec'd runs this trap too: leave the cleanup to us
  [[ $BASHPID == "$$" ]] || return 0
  if ((rc != 0)) && [[ -e $CLUSTER/slurm.conf ]]; then
    { squeue -o '%i %T %C %R'; sinfo -N -o '%N %T %C %E'; } >&2 2>/dev/null || true
  fi
  if [[ -e $CLUSTER/slurm.conf ]]; then
    "$S/tests/harness/slurm-cluster" stop "$CLUSTER" >/dev/null 2>&1 || true
  fi
  if [[ -d $CLUSTER ]] && ! "$S/tests/harness/slurm-cluster" sanitizer-check "$CLUSTER"; then
    echo "FAIL: a sanitizer reported an error in a Slurm process that loaded spank_kfarm.so" >&2
    rc=1
  fi
  if ((rc != 0)); then
    echo "--- slurmd log (tail) ---" >&2
    tail -n 40 "$CLUSTER"/log/slurmd.*.log >&2 2>/dev/null || true
    cp -r "$T" "/tmp/kfarm-spank-failed-$$" 2>/dev/null && echo "kept $T as /tmp/kfarm-spank-failed-$$" >&2
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
source "$S/tests/harness/slurm_job_checks.sh"

# The admin's ESFM CLI on the same fake tree, state and VMs as the plugin.
esfm() { "$B/src/esfm/esfm" --sysfs-root "$T/sys" --state-dir "$T/esfm" \
    --connect "fake://$T/hv.json" "$@"; }
# Guest addresses of the VFs on the node's VM, sorted, comma-separated.
vm_vfs() { esfm --json list-vf-vm | /usr/bin/python3 -c '
import json,sys
print(",".join(sorted(r["guest"] for r in json.load(sys.stdin) if r["vm"]=="kfnode1-vm")))'; }

# The policy of every test: 4 VFs per job, 4 per user, one allow-listed bitstream.
POLICY='{"vfs":{"per_job":4,"per_user":4},"bitstream_dir":"/opt/kfarm","bitstreams":[{"name":"ptdr-v1","path":"/opt/kfarm/ptdr-v1.xclbin","sha256":"3f1a9c0e6b2d4f8a7c5e1b9d0a2c4e6f8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"}]}'

# Guest addresses of the VFs ESFM records for job $1 (on the VM), sorted, comma-separated.
job_vfs() {
  local vfs; vfs=$(esfm --json list-vfs)
  esfm --json list-vf-vm | JOB=$1 VFS=$vfs /usr/bin/python3 -c '
import json,os,sys
owned={r["vf"] for r in json.loads(os.environ["VFS"]) if r["job"]==os.environ["JOB"]}
print(",".join(sorted(r["guest"] for r in json.load(sys.stdin) if r["vf"] in owned)))'
}

# spank_setup POLICY_JSON: builds the fake node and starts the cluster with the plugin (more
# plugstack arguments from $SPANK_PLUGSTACK_EXTRA).
spank_setup() {
  "$B/tests/esfm/fake-tree" "$T/sys" pf $PF 8 pci-pf-stub >/dev/null
  echo '{"domains":{"kfnode1-vm":{"device_pause":true}}}' >"$T/hv.json"
  "$B/tests/esfm/esfm-fakekernel" --sysfs-root "$T/sys" --state-dir "$T/esfm" \
    --connect "fake://$T/hv.json" init $PF --vfs 6 >/dev/null
  printf '%s\n' "$1" >"$T/policy.json"
  chmod 644 "$T/policy.json"
  cat >"$T/plugstack.conf" <<CONF
required $B/src/spank/spank_kfarm.so hypervisor=fake://$T/hv.json domain=%n-vm policy=$T/policy.json state_dir=$T/spank esfm_state_dir=$T/esfm sysfs_root=$T/sys ${SPANK_PLUGSTACK_EXTRA:-}
CONF
  # TmpFS: PMIx makes its per-step dirs <TmpFS>/spmix_appdir_<uid>_<job>.<step>, which in /tmp
  # collide with other private clusters' jobs of the same id on this machine.
  mkdir -p "$T/tmpfs"
  "$S/tests/harness/slurm-cluster" start "$CLUSTER" --cpus 8 --plugstack "$T/plugstack.conf" \
    --conf-extra "TmpFS=$T/tmpfs" \
    >/dev/null 2>&1 \
    || { tail -n 30 "$CLUSTER"/log/*.log >&2; fail "cluster did not start"; }
  eval "$("$S/tests/harness/slurm-cluster" env "$CLUSTER")"
}

node_idle() { [[ $(node_state) == IDLE ]]; }
# Serving jobs: idle, or mixed while another job runs; never drained, down or completing.
# (`sinfo -n` prints a mixed node as allocated, hence scontrol.)
node_state() { scontrol -o show node kfnode1 | sed -n 's/.* State=\([^ ]*\).*/\1/p'; }
node_serving() { case $(node_state) in IDLE|MIXED) return 0 ;; *) return 1 ;; esac; }
no_vfs_on_vm() { [[ -z $(vm_vfs) ]]; }
