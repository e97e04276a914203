"""ptdr end to end under real Slurm: a kfarm job with the ptdr adapter gets its profiles by an
ordered load-profiles broadcast and answers traffic-simulator-shaped monte-carlo requests exactly as
the adapter run locally (ptdr-run) does, on every worker rank, whichever variant the tuner picks."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check  # noqa: E402

with Job(4, ["--adapter", "ptdr", "--adapter-arg", "seed=7", "--adapter-arg", "samples=500"]) as job:
    env = dict(os.environ, PTDR_E2E_REQUESTS="60", PTDR_E2E_DIR=os.path.join(job.dir, "data"))
    p = subprocess.run([os.path.join(os.path.dirname(__file__), "ptdr_e2e.sh"), job.endpoint,
                        "7", "500"], capture_output=True, text=True, env=env, timeout=240)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "ptdr_e2e.sh failed:\n" + job.output())
    status = job.stop()
    check(status == 0, "kfarm exited %s after SIGTERM" % status)
print("ok: ptdr served through kfarm matches the local reference")
