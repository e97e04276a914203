#!/usr/bin/env bash
# scripts/setup stops and disables only the services its own apt-get install started or enabled:
# run against stand-in apt-get, dpkg-query, id and systemctl (this machine's real services are
# never touched), with munge running and slurmctld enabled-but-stopped before; the install starts
# munge (already running), slurmctld and slurmd and enables slurmd and mosquitto.
set -euo pipefail
src=${KFARM_SOURCE_DIR:?}
tmp=$(mktemp -d /tmp/kfarm-ops-setup.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$tmp/scripts" "$tmp/bin" "$tmp/state"
cp "$src/scripts/setup" "$tmp/scripts/setup"
printf 'kfarm-test-package\n' >"$tmp/scripts/packages.txt"
state=$tmp/state
echo active >"$state/munge.active"; echo enabled >"$state/munge.enabled"
echo enabled >"$state/slurmctld.enabled"
cat >"$tmp/bin/systemctl" <<SH
#!/bin/bash
# stand-in: state in $state/<unit>.active|.enabled, actions logged to $state/log
cmd=\$1 unit=\$2
case \$cmd in
  is-active) s=\$(cat "$state/\$unit.active" 2>/dev/null || echo inactive); echo "\$s"; [[ \$s == active ]] ;;
  is-enabled) s=\$(cat "$state/\$unit.enabled" 2>/dev/null || echo disabled); echo "\$s"; [[ \$s == enabled ]] ;;
  stop) echo "stop \$unit" >>"$state/log"; echo inactive >"$state/\$unit.active" ;;
  disable) echo "disable \$unit" >>"$state/log"; echo disabled >"$state/\$unit.enabled" ;;
  *) echo "systemctl \$*" >>"$state/log" ;;
esac
SH
cat >"$tmp/bin/apt-get" <<SH
#!/bin/bash
# stand-in: what Debian's maintainer scripts do when the packages get installed
[[ \$* == *install* ]] || exit 0
for u in munge slurmctld slurmd; do echo active >"$state/\$u.active"; done
for u in slurmd mosquitto; do echo enabled >"$state/\$u.enabled"; done
SH
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin/dpkg-query"
printf '#!/bin/sh\necho 0\n' >"$tmp/bin/id"
chmod +x "$tmp/bin"/*
PATH=$tmp/bin:$PATH "$tmp/scripts/setup" 2>"$tmp/err" || fail "setup failed: $(cat "$tmp/err")"
log=$(sort "$state/log" | paste -sd, -)
[[ $log == "disable mosquitto,disable slurmd,stop slurmctld,stop slurmd" ]] ||
  fail "setup did: '$log'; want only what its install started/enabled: disable mosquitto, disable slurmd, stop slurmctld, stop slurmd"
[[ $(cat "$state/munge.active") == active && $(cat "$state/slurmctld.enabled") == enabled ]] ||
  fail "a service running or enabled before setup was changed"
echo "ok: setup left munge running and slurmctld enabled; undid only its own: $log"
