"""Helpers for integration tests that run `kfarm` under the private Slurm cluster.

Run with /usr/bin/python3 (Debian's python3-zmq). The cluster comes from SLURM_CONF, set by the
ctest fixture that runs tests/harness/slurm-cluster. In here: verdicts (fail, check, wait_until);
Job (srun kfarm) and client (kfarm-client); a gateway's $stats (stats, workers, all_workers);
a steady load (start_load, load_summary); a private mosquitto and the accelerator state ESFM
publishes (start_mosquitto, publish_accel_state, stand_in_bdf); free_port, cpu_seconds.
tests/scale/scale_harness.py builds its multi-node jobs on these.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("KFARM_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("KFARM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
KFARM = os.path.join(BUILD, "src", "kfarm", "kfarm")
CLIENT = os.path.join(BUILD, "src", "client", "kfarm-client")
MOSQUITTO = os.path.join(SOURCE, "tests", "harness", "mosquitto")


def sanitized_build():
    """True in an ASan/UBSan build (KFARM_SANITIZE=ON): freed memory waits in ASan's quarantine
    (up to 256 MB a process), so a process's RSS says nothing about what it holds there."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "KFARM_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


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


def free_port(host="127.0.0.1"):
    """A TCP port on HOST that was free a moment ago (for sockets a client binds itself)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class StoppedOnExit:
    """`with` for a job that has stop() and output(): stopped when the block ends, its output
    printed when the block raised."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print(self.output())


class Job(StoppedOnExit):
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


def client(*args, check_status=True, timeout=120):
    """Runs kfarm-client; returns (status, stdout, stderr)."""
    p = subprocess.run([CLIENT] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    if check_status and p.returncode != 0:
        fail("kfarm-client %s exited %d:\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                  p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def stats(endpoint):
    """The gateway's $stats reply (workers and clients), parsed."""
    _, out, _ = client("--connect", endpoint, "--kind", "$stats", "--print", "--quiet")
    return json.loads(out.split(" ", 2)[2])


def workers(endpoint):
    """$stats of every worker rank: requests, variant, why, accel_available, ..."""
    return stats(endpoint)["workers"]


def all_workers(endpoint, pred):
    """True when every worker rank has served a request and pred(its $stats) holds."""
    return all(w["requests"] > 0 and pred(w) for w in workers(endpoint))


def start_load(endpoint, seconds, kind="work", data="x"):
    """kfarm-client sending KIND requests for SECONDS (6 in flight), then waiting for the last
    replies; load_summary() collects it."""
    return subprocess.Popen([CLIENT, "--connect", endpoint, "--kind", kind, "--data", data,
                             "-n", "10000000", "--duration", str(seconds), "--inflight", "6",
                             "--json", "--quiet", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_summary(p, what):
    """Waits for a start_load() client; fails unless every request got a good reply."""
    out, err = p.communicate(timeout=300)
    check(p.returncode == 0, "%s: client exited %d: %s %s" % (what, p.returncode, out, err))
    s = json.loads(out)
    check(s["errors"] == 0 and s["bad_replies"] == 0, "%s: %r" % (what, s))
    return s


def start_mosquitto(mqtt_dir, env=None):
    """A plain-TCP mosquitto on 127.0.0.1 with its files in MQTT_DIR (tests/harness/mosquitto);
    returns its port. Stop it with stop_mosquitto(MQTT_DIR)."""
    return subprocess.run([MOSQUITTO, "start", mqtt_dir], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()


def stop_mosquitto(mqtt_dir):
    subprocess.run([MOSQUITTO, "stop", mqtt_dir])


def stand_in_bdf():
    """A PCI device that exists on this machine: it stands in for the VF, whose presence the
    worker ranks check."""
    return sorted(os.listdir("/sys/bus/pci/devices"))[0]


def publish_accel_state(port, bdf, state):
    """Publishes {"state": STATE}, retained, where ESFM does: kfarm/accel/<this node>/<BDF>."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-r",
                    "-t", "kfarm/accel/%s/%s" % (socket.gethostname(), bdf),
                    "-m", json.dumps({"state": state})], check=True)


def cpu_seconds(pid):
    """CPU time (user + system) process PID has used so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name: state ppid ...
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


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


def ranks_of(job_name):
    """{rank: pid} of the kfarm processes of the job named job_name (other jobs may run kfarm on
    this machine)."""
    p = subprocess.run(["pgrep", "-x", "kfarm"], capture_output=True, text=True)
    ranks = {}
    for x in p.stdout.split():
        try:
            with open("/proc/%s/environ" % x, "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        if env.get(b"SLURM_JOB_NAME") == job_name.encode():
            ranks[int(env.get(b"SLURM_PROCID", b"-1"))] = int(x)
    return ranks
