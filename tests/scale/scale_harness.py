"""Helpers for the scale tests: kfarm jobs (jobs/scale.sbatch) on the private multi-node cluster of
tests/harness/slurm-multinode, whose directory comes from KFARM_MULTINODE_DIR (set by ctest).

Run with /usr/bin/python3 (Debian's python3-zmq). The client side runs here, in the root network
namespace; the job's nodes are network namespaces on a bridge.
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "zmq_gateway"))
from kfarm_harness import (BUILD, CLIENT, KFARM, SOURCE, StoppedOnExit, all_workers, check, client,  # noqa
                           fail, free_port, read_endpoints, stats, wait_until)

HARNESS = os.path.join(SOURCE, "tests", "harness", "slurm-multinode")
JOB_SCRIPT = os.path.join(SOURCE, "jobs", "scale.sbatch")
CLUSTER = os.environ.get("KFARM_MULTINODE_DIR", os.path.join(BUILD, "slurm-multinode"))


def load_cluster_env():
    """Exports what `slurm-multinode env` prints (SLURM_CONF, Open MPI interface, subnet)."""
    out = subprocess.run([HARNESS, "env", CLUSTER], capture_output=True, text=True)
    if out.returncode != 0:
        fail("no multi-node cluster in %s: %s" % (CLUSTER, out.stderr))
    for line in out.stdout.splitlines():
        m = re.match(r"export (\w+)=(.*)$", line)
        if m:
            os.environ[m.group(1)] = m.group(2)


load_cluster_env()
SUBNET = os.environ["KFARM_SCALE_SUBNET"]
HOST_ADDR = os.environ["KFARM_SCALE_HOST_ADDR"]  # the bridge: the root namespace, seen from nodes


def start_sleep_load(endpoint, inflight, client_timeout, timeout=30):
    """kfarm-client keeping INFLIGHT 20 ms sleep requests in flight until it is stopped or times
    out (CLIENT_TIMEOUT s without a reply), with a --json summary; returns once every worker has
    requests in flight ($stats), and fails the test if the client ends first or that takes more
    than TIMEOUT s."""
    load = subprocess.Popen([CLIENT, "--connect", endpoint, "-n", "1000000", "--inflight",
                             str(inflight), "--kind", "sleep", "--data", '{"ms": 20}',
                             "--timeout", str(client_timeout), "--json", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: load.poll() is not None or
               all_workers(endpoint, lambda w: w["inflight"] > 0), timeout,
               "the load to reach every worker")
    if load.poll() is not None:
        check(False, "the load client ended early: %r" % (load.communicate(),))
    return load


def node_addr(i):
    return "%s.%d" % (SUBNET, 10 + i)


def squeue_state(job_id):
    p = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True,
                       text=True)
    return p.stdout.strip()


class ScaleJob(StoppedOnExit):
    """sbatch jobs/scale.sbatch: gateway on the first node, `workers` ranks on each other node
    (a comma list, see the script). Files shared with the nodes live in the cluster directory,
    not /tmp (every node has its own /tmp)."""

    def __init__(self, nodes, workers, args, endpoint=True, timeout=60, requeue=False,
                 kfarm=KFARM):
        jobs = os.path.join(CLUSTER, "jobs")
        os.makedirs(jobs, exist_ok=True)
        self.name = "kfarm-scale-%d-%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)
        self.endpoint_file = os.path.join(jobs, self.name + ".endpoints")
        self.log_path = os.path.join(jobs, self.name + ".out")
        env = dict(os.environ, KFARM=kfarm, KFARM_WORKERS_PER_NODE=workers,
                   KFARM_ENDPOINT_FILE=self.endpoint_file)
        cmd = ["sbatch", "--parsable", "--nodes", str(nodes), "--job-name", self.name,
               "-o", self.log_path, "--requeue" if requeue else "--no-requeue", JOB_SCRIPT]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, env=env)
        check(p.returncode == 0, "sbatch failed: %s" % p.stderr)
        self.id = int(p.stdout.strip().split(";")[0])
        self.endpoint = self.broadcast_endpoint = None
        if endpoint:
            self.wait_endpoints(timeout)

    def wait_endpoints(self, timeout, not_equal=None):
        """Waits for the endpoint file (one that differs from not_equal, after a restart)."""
        def ready():
            if not os.path.exists(self.endpoint_file):
                return False
            return read_endpoints(self.endpoint_file)[0] != not_equal
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                fail("no endpoint file after %d s (job %d %s):\n%s"
                     % (timeout, self.id, squeue_state(self.id) or "gone", self.output()))
            time.sleep(0.1)
        self.endpoint, self.broadcast_endpoint = read_endpoints(self.endpoint_file)
        return self.endpoint

    def output(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return "(no job output yet)"

    def info(self):
        p = subprocess.run(["scontrol", "show", "job", str(self.id)], capture_output=True,
                           text=True)
        return p.stdout

    def stop(self, timeout=30):
        """scancel (SIGTERM to the steps, then the job); waits until the job left the queue."""
        subprocess.run(["scancel", str(self.id)], check=False)
        wait_until(lambda: squeue_state(self.id) in ("", "COMPLETED", "CANCELLED"), timeout,
                   "job %d to end after scancel" % self.id)

    def __exit__(self, *exc):
        super().__exit__(*exc)
        if exc[0] is not None:
            return
        # Under -DKFARM_SANITIZE=ON the ranks' reports land in the job log. Leaks are not checked
        # here: Open MPI leaks at exit from components it has unloaded (no names to suppress);
        # kfarm's own leaks are the valgrind tests' job.
        for marker in ("ERROR: AddressSanitizer", "runtime error:"):
            check(marker not in self.output(), "sanitizer report in the job log:\n" + self.output())
