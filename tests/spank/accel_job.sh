#!/usr/bin/env bash
# jobs/accel.sbatch (#SBATCH --fpga-vfs=1) on a real Slurm 22.05 with spank_kfarm.so: the kfarm
# gateway and workers serve a client, each worker reports the VF the plugin attached (the one
# esfm shows on the node's VM), and scancel gives the VF back.
source "$(dirname "$0")/spank_lib.sh"
spank_setup "$POLICY"
O=$T/out
mkdir -p "$O"
cd "$O"
j=$(sbatch --parsable -o "$O/job.log" \
  --export=ALL,KFARM="$B/src/kfarm/kfarm",KFARM_ENDPOINT_FILE="$O/endpoints" "$S/jobs/accel.sbatch")
serving() { [[ -s $O/endpoints ]] || { job_done "$j" && fail "job $j ended: $(cat "$O/job.log")"; false; }; }
wait_until 90 "job $j serving" serving
vf=$(job_vfs "$j")
[[ $vf == 0000:* && $vf != *,* ]] || fail "esfm shows '$vf' for job $j"
wait_until 20 "workers report" bash -c "[[ \$(grep -c 'accelerator: KFARM_ACCEL=1 KFARM_VF_BDFS=$vf ' $O/job.log) -ge 2 ]]"
pass "jobs/accel.sbatch job $j: its 2 workers report KFARM_ACCEL=1 KFARM_VF_BDFS=$vf, as esfm shows"
reply=$("$B/src/client/kfarm-client" --endpoint-file "$O/endpoints" --kind echo --data accel-hi \
  -n 2 --print --quiet) || fail "kfarm-client: $reply (job log: $(tail -5 "$O/job.log"))"
grep -q accel-hi <<<"$reply" || fail "client got: $reply"
pass "job $j serves a client"
scancel "$j"
wait_until 30 "job $j done" job_done "$j"
wait_until 30 "VF detached" no_vfs_on_vm
wait_until 30 "node idle" node_idle
pass "scancel: the VF is detached, node idle"
