"""scancel of a batch job under load: the job ends within 10 s, no rank is left running, and the
client gets answers or errors rather than hanging past its time-out."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import CLIENT, KFARM, check, kfarm_processes, read_endpoints, wait_until  # noqa

d = tempfile.mkdtemp(prefix="kfarm-scancel-")
epfile = os.path.join(d, "endpoints")
script = os.path.join(d, "job.sbatch")
with open(script, "w") as f:
    f.write("#!/bin/bash\n#SBATCH --ntasks=3\n#SBATCH --output=%s/job.out\n"
            "srun --mpi=pmix %s --bind tcp://127.0.0.1:0 --endpoint-file %s --drain-timeout 2\n"
            % (d, KFARM, epfile))
jobid = subprocess.run(["sbatch", "--parsable", script], capture_output=True, text=True,
                       check=True).stdout.strip().split(";")[0]
wait_until(lambda: os.path.exists(epfile), 60, "the job to publish its endpoints")
endpoint, _ = read_endpoints(epfile)
load = subprocess.Popen([CLIENT, "--connect", endpoint, "--kind", "sleep", "--data", '{"ms": 20}',
                         "-n", "100000", "--inflight", "16", "--timeout", "5", "--json",
                         "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def served():
    p = subprocess.run([CLIENT, "--connect", endpoint, "--kind", "$stats", "--print", "--quiet"],
                       capture_output=True, text=True)
    return p.returncode == 0 and json.loads(p.stdout.split(" ", 2)[2])["requests"] > 100


wait_until(served, 30, "the load to be under way")
if load.poll() is not None:
    subprocess.run(["scancel", jobid])
    check(False, "the load client stopped early: %r" % (load.communicate(),))
t0 = time.monotonic()
subprocess.run(["scancel", jobid], check=True)


def job_gone():
    q = subprocess.run(["squeue", "-h", "-j", jobid], capture_output=True, text=True)
    return q.stdout.strip() == "" and not kfarm_processes()


wait_until(job_gone, 10, "job %s and its ranks to end after scancel" % jobid)
elapsed = time.monotonic() - t0
out, err = load.communicate(timeout=30)
check(load.returncode != 0, "the client claims success for a cancelled job")
with open(os.path.join(d, "job.out")) as f:
    log = f.read()
check("stopping" in log, "the gateway did not log its shutdown:\n" + log)
print("ok: job ended %.1f s after scancel, no rank left; client: %s" % (elapsed, err.strip()[:200]))
