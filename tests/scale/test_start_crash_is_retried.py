"""jobs/scale.sbatch starts the step again when it fails before serving (Open MPI 4.1 occasionally
crashed a rank inside MPI_Init on multi-node starts here): the gateway's rank dies of
SIGSEGV on the first start (tests/scale/crash-once-kfarm), the job still publishes its endpoint
and serves, and its log says why it restarted."""
import json
import os

from scale_harness import CLUSTER, HERE, KFARM, ScaleJob, check, client

mark = os.path.join(CLUSTER, "jobs", "crash-mark.%d" % os.getpid())
os.makedirs(os.path.dirname(mark), exist_ok=True)
if os.path.exists(mark):
    os.unlink(mark)
os.environ.update(KFARM_REAL=KFARM, KFARM_CRASH_MARK=mark)
with ScaleJob(3, "1", [], kfarm=os.path.join(HERE, "crash-once-kfarm")) as job:
    check(os.path.exists(mark), "the wrapper never crashed the first start")
    check("failed before serving" in job.output(), "the job log does not say why it restarted:\n"
          + job.output())
    _, out, _ = client("--connect", job.endpoint, "-n", "500", "--inflight", "8", "--verify-echo",
                       "--data", "retried", "--json", "--quiet")
    check(json.loads(out)["errors"] == 0, out)
os.unlink(mark)
print("ok: a start that crashed before serving was retried and the job serves")
