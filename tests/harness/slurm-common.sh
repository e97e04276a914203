# Pieces shared by the private Slurm clusters (slurm-cluster: one node on loopback; slurm-multinode:
# several nodes in network namespaces). Sourced; the caller sets PROG (the name in messages).

die() { echo "$PROG: $*" >&2; exit 1; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until "$@" succeeds, at most $timeout seconds.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
  echo "$PROG: $what" >&2
}

require_slurm() {
  local d
  for d in slurmctld slurmd munged sinfo; do
    command -v "$d" >/dev/null || die "$d not found: run scripts/setup to install Slurm and munge"
  done
}

# A munged with a fresh key, its socket in DIR/munge (every daemon and client of the cluster
# reaches it through AuthInfo=socket=...).
start_munge() {
  local dir=$1
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 700 "$dir" "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" || die "munged failed to start; see $dir/log/munged.log"
}

# Prints the slurm.conf lines every private cluster has: DIR HOST CTLD_ADDR CTLD_PORT SLURMD_PORT
# PLUGSTACK [AUTHINFO_EXTRA]. The caller appends its own timeouts, nodes and partition.
slurm_conf_common() {
  local dir=$1 host=$2 addr=$3 ctld_port=$4 slurmd_port=$5 plugstack=$6 auth_extra=${7:-}
  cat <<CONF
ClusterName=kfarm$RANDOM
SlurmctldHost=$host($addr)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket${auth_extra:+,$auth_extra}
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmdParameters=config_overrides
PlugStackConfig=$plugstack
CONF
}

# Cancels the cluster's jobs and stops its daemons (slurmd.*, slurmctld, munged), keeping logs.
stop_daemons() {
  local dir=$1 pf pid pids=()
  export SLURM_CONF=$dir/slurm.conf
  scancel --full --cluster= -u root >/dev/null 2>&1 || scancel -u root >/dev/null 2>&1 || true
  # SIGTERM to every daemon first, then up to 5 s each for them to go: nodes stop in parallel.
  for pf in "$dir"/slurmd.*.pid "$dir/slurmctld.pid" "$dir/slurmdbd.pid" "$dir/munge/munged.pid"; do
    [[ -s $pf ]] || continue
    pid=$(cat "$pf")
    kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # Job steps that outlived their slurmstepd (proctrack/linuxproc cannot always reap them).
  pkill -9 -f "slurmstepd.*$dir" 2>/dev/null || true
}

# write_gres_conf DIR NODE SPEC...: count-only GRES (NAME[:TYPE]:COUNT) of NODE in DIR/gres.conf
# (appended) and GresTypes= in DIR/slurm.conf. Nothing without a SPEC.
write_gres_conf() {
  local dir=$1 node=$2 spec name type count names=(); shift 2
  (($#)) || return 0
  for spec in "$@"; do
    IFS=: read -r name type count <<<"$spec"
    [[ -n $count ]] || { count=$type; type=""; }
    echo "NodeName=$node Name=$name${type:+ Type=$type} Count=$count" >>"$dir/gres.conf"
    [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
  done
  grep -q '^GresTypes=' "$dir/slurm.conf" 2>/dev/null ||
    echo "GresTypes=$(IFS=,; echo "${names[*]}")" >>"$dir/slurm.conf"
}
