#!/usr/bin/env bash
# Typed GRES and accounting: the node has fpgavf:ptdr-v1:2 (its PF's bitstream), slurmdbd on the
# `mariadb` fixture's MariaDB with AccountingStorageTRES=gres/fpgavf, kfarm's cli_filter, the
# plugin listed required. --fpga-bitstream=ptdr-v1 becomes --gres=fpgavf:ptdr-v1:N and runs with
# its VFs; ptdr-v2, allowed by the policy but on no node, is refused at submit with the list of
# available ones; sacct shows gres/fpgavf=2 in AllocTRES of the finished job.
source "$(dirname "$0")/spank_lib.sh"
DB=${KFARM_MARIADB_DIR:?the mariadb fixture sets KFARM_MARIADB_DIR}
SPANK_PLUGSTACK_EXTRA="gres=fpgavf scontrol=$(command -v scontrol)"
SPANK_CLUSTER_ARGS=(--gres fpgavf:ptdr-v1:2 --cli-filter "$S/src/cli_filter/cli_filter.lua"
  --accounting "$DB" --conf-extra AccountingStorageTRES=gres/fpgavf)
V2='{"name":"ptdr-v2","path":"/opt/kfarm/ptdr-v2.xclbin","sha256":"0f1a9c0e6b2d4f8a7c5e1b9d0a2c4e6f8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"}'
spank_setup "${POLICY/%]\}/,$V2]\}}"
cd "$T"
grep -q ptdr-v2 "$T/policy.json" || fail "policy lacks ptdr-v2: $(cat "$T/policy.json")"
[[ $(sinfo -h -o '%G') == "fpgavf:ptdr-v1:2" ]] || fail "sinfo %G: $(sinfo -h -o '%G')"

out=$(sbatch --fpga-vfs=1 --fpga-bitstream=ptdr-v2 --wrap true 2>&1) && fail "ptdr-v2 accepted: $out"
grep -qF "no node has VFs with bitstream ptdr-v2; available: ptdr-v1" <<<"$out" || fail "ptdr-v2: $out"
[[ -z $(squeue -h -o %i) ]] || fail "the refused job was queued: $(squeue)"
pass "--fpga-bitstream=ptdr-v2 (allowed, on no node) refused at submit: $(grep -m1 kfarm <<<"$out")"

j=$(sbatch --parsable -o "$T/j.out" --fpga-vfs=2 --fpga-bitstream=ptdr-v1 \
  --wrap 'env | grep ^KFARM_ | sort; echo done' | cut -d';' -f1)
wait_until 60 "job $j done" job_done "$j"
[[ $(job_state "$j") == COMPLETED || -z $(job_state "$j") ]] || fail "job $j: $(job_state "$j")"
grep -q '^KFARM_ACCEL=1$' "$T/j.out" && grep -q '^KFARM_VF_BDFS=0000:.*,0000:' "$T/j.out" ||
  fail "job $j: $(cat "$T/j.out")"
grep -q "kfarm: job $j: 2 VF(s) on kfnode1-vm" "$CLUSTER"/log/slurmd.kfnode1.log ||
  fail "slurmd log lacks job $j's attach"
tpn=$(scontrol -o show job "$j" | grep -o 'TresPerNode=[^ ]*')
[[ $tpn == TresPerNode=gres:fpgavf:ptdr-v1:2 ]] || fail "job $j's request: $tpn"
pass "--fpga-vfs=2 --fpga-bitstream=ptdr-v1 ($tpn) ran with 2 VFs: $(grep VF_BDFS "$T/j.out")"
tres() { sacct -n -X -j "$j" -o AllocTRES%200 | tr -d ' '; }
has_vf_tres() { [[ $(tres) == *gres/fpgavf=2* ]]; }
wait_until 60 "sacct shows job $j's gres/fpgavf" has_vf_tres
gres=$(sacct -n -X -j "$j" -o ReqTRES%200 | tr -d ' ')
pass "sacct -j $j -o AllocTRES: $(tres) (requested: $gres)"
wait_until 30 "no VF on the VM" no_vfs_on_vm
