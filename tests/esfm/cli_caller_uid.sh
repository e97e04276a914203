#!/usr/bin/env bash
# Only root drives ESFM: a caller whose real uid is not 0 (setpriv --ruid: what a setuid-root
# install would give, euid still 0) or who is a plain user (setpriv --reuid) cannot detach, pause,
# unpause, job-detach or attach any VF, neither another job's nor its own; nothing changes; root
# still can. The FAKE kernel and FAKE hypervisor stand in for the FPGA and the VMs.
. "$(dirname "$0")/cli_lib.sh"
ESFM=${KFARM_BUILD_DIR:?}/src/esfm/esfm
[[ -x $ESFM ]] || fail "$ESFM not built"
chmod 755 "$T" # a plain user must reach the tree for the refusal, not a permission error, to show
new_env true
esfm init $PF --vfs 3 >/dev/null
# Job 42 belongs to user nobody (65534), job 43 to uid 1000; VF2 is paused by the admin.
vf42=$(esfm job-attach 42 vm1 1 --uid 65534 | tail -n1 | cut -d" " -f1)
vf43=$(esfm job-attach 43 vm2 1 --uid 1000 | tail -n1 | cut -d" " -f1)
esfm attach $VF2 vm1 >/dev/null
esfm pause $VF2 >/dev/null
owner() { esfm --json list-vfs | json "print(next(r['vm']+'/'+r['job']+'/'+r['state'] for r in d if r['vf']=='$1'))"; }
[[ $(owner "$vf42") == vm1/42/attached && $(owner "$vf43") == vm2/43/attached ]] \
  || fail "setup: $vf42 $(owner "$vf42"), $vf43 $(owner "$vf43")"
before=$(snapshot)
as() { # as SETPRIV-ARGS... -- esfm args: the real esfm on the same tree, state and VMs
  local args=()
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  setpriv "${args[@]}" -- "$ESFM" --sysfs-root "$T/sys" --state-dir "$T/state" \
    --connect "fake://$T/hv.json" "$@"
}
for who in "--ruid 65534" "--reuid 65534 --regid 65534 --clear-groups" "--ruid 1000"; do
  # shellcheck disable=SC2086
  for cmd in "detach $vf43" "pause $vf43" "unpause $VF2" "job-detach 43" "job-detach 42" \
      "detach $vf42" "pause $vf42" "job-attach 44 vm1 1 --uid 65534" "attach $VF2 vm2" \
      "reconf $PF 1" "reconcile"; do
    expect 3 "ESFM runs only as root" as $who -- $cmd
  done
done
expect 3 "real uid 65534, effective uid 0" as --ruid 65534 -- detach "$vf43"
expect 3 "real uid 65534, effective uid 65534" as --reuid 65534 --regid 65534 --clear-groups -- \
  job-detach 43
[[ $(owner "$vf42") == vm1/42/attached && $(owner "$vf43") == vm2/43/attached \
   && $(owner $VF2) == vm1//paused ]] || fail "VFs changed: $(esfm list-vfs)"
echo "ok: jobs 42 and 43 keep $vf42 and $vf43, $VF2 stays paused"
# Root (real and effective uid 0) still can.
as --reuid 0 -- job-detach 43 >/dev/null
[[ $(owner "$vf43") == //free && $(owner "$vf42") == vm1/42/attached ]] \
  || fail "root's job-detach 43: $(esfm list-vfs)"
esfm unpause $VF2 >/dev/null
esfm job-detach 42 >/dev/null
echo "ok: root detached job 43 and 42 and unpaused $VF2"
