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
  for pf in "$dir"/slurmd.*.pid "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
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

# A KFARM_SANITIZE build: ctest sets KFARM_SANITIZER_PRELOAD to the compiler's ASan runtime, which
# must come first in every Slurm process that loads the instrumented spank_kfarm.so (slurmd and the
# slurmstepd it execs, srun, sbatch, salloc). sanitizer_setup DIR writes DIR/sanitizer/env (sourced
# before slurmd) and wrappers DIR/sanitizer/bin/{srun,sbatch,salloc} that `env` puts first in PATH.
# slurmd runs the SPANK job prolog/epilog as `slurmstepd spank prolog` with the job's environment,
# not its own, so slurmd runs in a private mount namespace where a wrapper that sets the
# environment is bind-mounted over slurmstepd (exec_slurmd).
# Reports go to DIR/sanitizer/{asan,ubsan}.PID; sanitizer_reports turns any into a failure. Leak
# checking is off in these processes: at exit they hold Slurm's own allocations (the plugin's leaks
# are checked under LeakSanitizer by its cmocka tests).
sanitizer_setup() {
  local dir=$1 c real
  [[ -n ${KFARM_SANITIZER_PRELOAD:-} ]] || return 0
  [[ -e $KFARM_SANITIZER_PRELOAD ]] || die "KFARM_SANITIZER_PRELOAD=$KFARM_SANITIZER_PRELOAD is missing: apt-get install libasan8 (scripts/setup does), or reconfigure the sanitized build"
  mkdir -p "$dir/sanitizer/bin"
  cat >"$dir/sanitizer/env" <<ENV
export LD_PRELOAD=$KFARM_SANITIZER_PRELOAD
export ASAN_OPTIONS=detect_leaks=0:log_path=$dir/sanitizer/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$dir/sanitizer/ubsan
ENV
  real=$(command -v slurmstepd) || die "slurmstepd not found: run scripts/setup to install Slurm"
  cp "$real" "$dir/sanitizer/slurmstepd.real"
  # Its stderr goes nowhere otherwise, and UBSan reports there (not to log_path) in these builds.
  # A step's slurmstepd forks the tasks while its other threads allocate: GCC 12's libasan does not
  # lock its allocator around fork, and a task child hung in the allocator (gdb: Refill under
  # QuarantineCallback::Allocate) in 3 of 3 runs of spank_job_lifecycle. Without the quarantine
  # (no use-after-free detection there) the step's threads no longer recycle it under the lock;
  # `slurmstepd spank prolog|epilog`, where the plugin's ESFM work runs, keeps the full checks.
  cat >"$dir/sanitizer/slurmstepd" <<WRAP
#!/bin/sh
# slurmstepd with the ASan runtime preloaded (tests/harness, KFARM_SANITIZE build)
. "$dir/sanitizer/env"
[ "\$1" = spank ] || ASAN_OPTIONS=\$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0
exec 2>>"$dir/sanitizer/slurmstepd.stderr"
exec "$dir/sanitizer/slurmstepd.real" "\$@"
WRAP
  chmod 755 "$dir/sanitizer/slurmstepd"
  for c in srun sbatch salloc; do
    real=$(command -v "$c") || die "$c not found: run scripts/setup to install Slurm"
    printf '#!/bin/sh\n# %s with the ASan runtime preloaded (tests/harness, KFARM_SANITIZE build)\n. "%s"\nexec %s "$@"\n' \
      "$c" "$dir/sanitizer/env" "$real" >"$dir/sanitizer/bin/$c"
    chmod 755 "$dir/sanitizer/bin/$c"
  done
}

# The exports a client needs beyond SLURM_CONF: the sanitizer wrappers when there are some.
sanitizer_client_env() {
  [[ ! -e $1/sanitizer/env ]] || echo "export PATH=$1/sanitizer/bin:\$PATH"
}

# Prints every sanitizer report of the cluster in DIR; fails when there is one.
sanitizer_reports() {
  local f found=0
  for f in "$1"/sanitizer/asan.* "$1"/sanitizer/ubsan.*; do
    [[ -e $f ]] || continue
    echo "$PROG: sanitizer report in a Slurm process ($f):" >&2
    cat "$f" >&2
    found=1
  done
  f=$1/sanitizer/slurmstepd.stderr
  if [[ -e $f ]] && grep -qE 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' "$f"; then
    echo "$PROG: sanitizer report on slurmstepd's stderr ($f):" >&2
    cat "$f" >&2
    found=1
  fi
  ((found == 0))
}

# exec_slurmd DIR ARGS...: execs slurmd ARGS; in a sanitized cluster (DIR/sanitizer/env) with the
# ASan runtime preloaded, in a private mount namespace whose slurmstepd is the wrapper.
exec_slurmd() {
  local san=$1/sanitizer
  shift
  [[ -e $san/env ]] || exec slurmd "$@"
  # shellcheck disable=SC2016
  exec unshare --mount --propagation private sh -c '. "$1/env" &&
    mount --bind "$1/slurmstepd" "$(command -v slurmstepd)" || exit 1
    shift; exec slurmd "$@"' sh "$san" "$@"
}
