#!/usr/bin/env bash
# esfm killed after step k of `reconf 3 -> 2` (ESFM_TEST_CRASH_AFTER_STEP=k, separate
# processes) for every k: `esfm status` shows the interrupted entry, and the next command
# repairs it: VF count 2, each surviving VF back in its own VM exactly once, journal clean.
. "$(dirname "$0")/cli_lib.sh"
for dp in true false; do
  k=1
  while :; do
    new_env $dp
    esfm init $PF --vfs 3 >/dev/null
    esfm attach $VF0 vm1 >/dev/null
    esfm attach $VF1 vm2 >/dev/null
    esfm attach $VF2 vm1 >/dev/null
    set +e; ESFM_TEST_CRASH_AFTER_STEP=$k esfm reconf $PF 2 >/dev/null 2>&1; rc=$?; set -e
    [ $rc = 137 ] || [ $rc = 0 ] || fail "k=$k: reconf exited $rc (want 137, killed, or 0)"
    if [ $rc = 137 ]; then
      esfm status --json | json 'p=d["pending"]; assert len(p)==1 and p[0]["op"]=="reconf" and not p[0]["running"], p'
    fi
    esfm list-vfs >/dev/null          # any command repairs first
    esfm status --json | json 'assert d["pending"]==[] and d["pfs"][0]["numvfs"]==2, d'
    json 'h={x["bdf"]:(n,x["paused"]) for n,dd in d["domains"].items() for x in dd.get("hostdevs",[])}
assert h=={"'$VF0'":("vm1",False),"'$VF1'":("vm2",False)}, h' <"$T/hv.json"
    [ $rc = 0 ] && break
    k=$((k+1))
  done
  echo "device_pause=$dp: crashed after each of $((k-1)) steps, each repaired"
  [ $k -gt 4 ] || fail "too few steps"
done
echo PASS
