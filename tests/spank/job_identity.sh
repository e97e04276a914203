#!/usr/bin/env bash
# Job identity and uid come from Slurm (spank_get_item), never from the job's environment, on a
# real Slurm 22.05 with spank_kfarm.so: user nobody's job B that spoofs SLURM_JOB_ID/SLURM_JOBID/
# SLURM_JOB_UID (sbatch --export and in its script before srun) to root's running job A gets and
# releases only its own VF, recorded under its real id and uid; A's VFs stay attached through B's
# life and end; a spoofed srun outside any job cannot reach A either. FAKE sysfs and hypervisor.
source "$(dirname "$0")/spank_lib.sh"
spank_setup "$POLICY"
O=$T/out
mkdir -p "$O"
chown nobody "$O"
# User nobody's srun/sbatch reach this private cluster: its slurm.conf and munge socket (the key
# stays root-only, mode 400).
chmod 711 "$CLUSTER" "$CLUSTER/munge"
chmod 644 "$CLUSTER/slurm.conf"
cd "$O"
nobody() { setpriv --reuid nobody --regid nogroup --clear-groups -- env HOME="$O" "$@"; }
nobody sinfo -h >/dev/null || fail "user nobody cannot reach the private cluster"

# A: root's job with 2 VFs, waiting for $O/go.A.
WAIT='touch started.$SLURM_JOB_ID; for i in $(seq 600); do [ -e go.$SLURM_JOB_ID ] && exit 0; sleep 0.1; done; exit 3'
a=$(sbatch --parsable -o "$O/%j.out" --fpga-vfs=2 --wrap "$WAIT")
started() { [[ -e $O/started.$1 ]]; }
wait_until 30 "job $a started" started "$a"
va=$(job_vfs "$a")
[[ $va == *,* && $va != *,*,* ]] || fail "job $a holds '$va', not 2 VFs"
pass "root's job $a holds $va"

# B: nobody's job, told by its environment that it is job A of uid 0, at submission and inside.
SPOOF="SLURM_JOB_ID=$a SLURM_JOBID=$a SLURM_JOB_UID=0 SLURM_JOB_USER=root"
b=$(nobody env $SPOOF sbatch --parsable -o "$O/%j.out" --fpga-vfs=1 \
  --export="ALL,SLURM_JOB_ID=$a,SLURM_JOBID=$a,SLURM_JOB_UID=0" --wrap "
echo batch env_job=\$SLURM_JOB_ID accel=\$KFARM_ACCEL bdfs=\$KFARM_VF_BDFS
(export $SPOOF; srun --mpi=none bash -c 'echo step env_job=\$SLURM_JOB_ID bdfs=\$KFARM_VF_BDFS' 2>&1
 echo srun_rc=\$?)
$WAIT") || fail "nobody's sbatch was refused"
[[ $b =~ ^[0-9]+$ && $b != "$a" ]] || fail "sbatch said '$b'"
wait_until 60 "job $b started" started "$b"
vb=$(job_vfs "$b")
[[ -n $vb && $vb != *,* ]] || fail "job $b holds '$vb', not 1 VF"
[[ $(job_vfs "$a") == "$va" ]] || fail "job $a now holds '$(job_vfs "$a")', had $va"
for x in ${va//,/ }; do [[ $x != "$vb" ]] || fail "job $b got job $a's VF $x"; done
grep -qx "batch env_job=$b accel=1 bdfs=$vb" "$O/$b.out" \
  || fail "job $b's batch step saw: $(cat "$O/$b.out")"
grep -qx "job=$b" "$T/spank/$b" && grep -qx "uid=65534" "$T/spank/$b" \
  || fail "record of job $b: $(cat "$T/spank/$b" 2>&1)"
grep -qx "uid=0" "$T/spank/$a" || fail "record of job $a: $(cat "$T/spank/$a")"
# The spoofed srun inside B either is refused (nobody may not enter root's job A) or runs in B;
# it never sees A's VFs.
grep -q "^srun_rc=" "$O/$b.out" || fail "job $b's srun did not return: $(cat "$O/$b.out")"
for x in ${va//,/ }; do
  ! grep "^step " "$O/$b.out" | grep -q "$x" || fail "job $b's spoofed step saw job $a's VF $x"
done
pass "nobody's job $b spoofing job $a/uid 0 got only $vb (record job=$b uid=65534); job $a keeps $va ($(grep -m1 -E '^step|srun: error' "$O/$b.out" | cut -c1-80))"

# A spoofed srun outside any job, with A's id in its environment, cannot reach A's allocation.
set +e
out=$(nobody env $SPOOF timeout 30 srun --mpi=none --fpga-vfs=1 printenv KFARM_VF_BDFS 2>&1)
rc=$?
set -e
((rc != 0)) || fail "nobody's srun with SLURM_JOB_ID=$a ran: $out"
[[ $(job_vfs "$a") == "$va" ]] || fail "job $a now holds '$(job_vfs "$a")'"
pass "nobody's srun with SLURM_JOB_ID=$a is refused (${out:0:80}); job $a keeps $va"

# B ends: its epilog releases B's VF only.
touch "go.$b"
wait_until 30 "job $b done" job_done "$b"
wait_until 30 "job $b's VF detached" bash -c "[[ ! -e $T/spank/$b ]]"
[[ -z $(job_vfs "$b") ]] || fail "job $b still holds $(job_vfs "$b")"
[[ $(job_vfs "$a") == "$va" && -e $T/spank/$a ]] || fail "job $b's end took job $a's VFs: '$(job_vfs "$a")'"
[[ $(job_state "$a") == RUNNING ]] || fail "job $a is $(job_state "$a")"
pass "job $b ended: its VF $vb is released, job $a still runs with $va"
touch "go.$a"
wait_until 30 "job $a done" job_done "$a"
wait_until 30 "job $a's VFs detached" no_vfs_on_vm
wait_until 30 "node idle" node_idle
pass "job $a ended: VFs released, node idle"
