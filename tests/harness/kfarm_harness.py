"""Helpers for integration tests that run `kfarm` under the private Slurm cluster.

Run with /usr/bin/python3 (Debian's python3-zmq). The cluster comes from SLURM_CONF, set by the
ctest fixture that runs tests/harness/slurm-cluster.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("KFARM_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("KFARM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
KFARM = os.path.join(BUILD, "src", "kfarm", "kfarm")
CLIENT = os.path.join(BUILD, "src", "client", "kfarm-client")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(pred, timeout, what):
    """Polls pred() until it is true or timeout seconds pass; fails the test then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    fail("timed out after %.0f s waiting for %s" % (timeout, what))


def read_endpoints(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values["KFARM_ENDPOINT"], values.get("KFARM_BROADCAST_ENDPOINT")


class Job:
    """`srun --mpi=pmix -n N kfarm ARGS` in the background, with its log in a temp dir."""

    def __init__(self, ntasks, args, bind=True, wait=True, timeout=60):
        self.dir = tempfile.mkdtemp(prefix="kfarm-test-")
        self.log_path = os.path.join(self.dir, "job.log")
        self.endpoint_file = os.path.join(self.dir, "endpoints")
        self.name = os.path.basename(self.dir)
        cmd = ["srun", "--mpi=pmix", "-n", str(ntasks), "--kill-on-bad-exit=1",
               "--job-name", self.name, KFARM]
        if bind:
            cmd += ["--bind", "tcp://127.0.0.1:0", "--broadcast-bind", "tcp://127.0.0.1:0",
                    "--endpoint-file", self.endpoint_file]
        cmd += list(args)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.endpoint = self.broadcast_endpoint = None
        if bind and wait:
            wait_until(lambda: os.path.exists(self.endpoint_file) or self.proc.poll() is not None,
                       timeout, "the gateway's endpoint file")
            if self.proc.poll() is not None:
                fail("kfarm exited with %s before serving:\n%s" % (self.proc.returncode, self.output()))
            self.endpoint, self.broadcast_endpoint = read_endpoints(self.endpoint_file)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=20):
        """SIGTERM to every rank, as scancel delivers it; returns srun's exit status. (srun itself
        turns a SIGTERM into a forced kill, so the signal goes through Slurm.)"""
        if self.proc.poll() is None:
            subprocess.run(["scancel", "--signal=TERM", "--name", self.name], check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                fail("kfarm did not stop within %d s of SIGTERM:\n%s" % (timeout, self.output()))
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print(self.output())


def client(*args, check_status=True, timeout=120):
    """Runs kfarm-client; returns (status, stdout, stderr)."""
    p = subprocess.run([CLIENT] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    if check_status and p.returncode != 0:
        fail("kfarm-client %s exited %d:\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                  p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def kfarm_processes():
    """PIDs of ranks of this build's kfarm on this test's cluster (SLURM_CONF) still running:
    other clusters or builds on the same machine (another ctest run, a benchmark) may run kfarm."""
    p = subprocess.run(["pgrep", "-x", "kfarm"], capture_output=True, text=True)
    conf = os.environ.get("SLURM_CONF", "").encode()
    ours = []
    for pid in p.stdout.split():
        try:
            if os.path.realpath("/proc/%s/exe" % pid) != os.path.realpath(KFARM):
                continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue  # it ended meanwhile
        if not conf or b"SLURM_CONF=" + conf in env:
            ours.append(int(pid))
    return ours
