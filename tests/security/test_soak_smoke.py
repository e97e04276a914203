"""Soak smoke (30 s): 8 clients with random payloads up to 1 MiB, random disconnects and
reconnects, broadcasts on PUB and on the request socket, against a 3-rank job on the private
Slurm cluster. bench/soak/soak.py checks no loss/duplication and flat RSS and fds."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import SOURCE, Job, check  # noqa: E402

SOAK = os.path.join(SOURCE, "bench", "soak", "soak.py")
seconds = os.environ.get("KFARM_SOAK_SECONDS", "30")
with Job(3, []) as job:
    p = subprocess.run(["/usr/bin/python3", SOAK, job.endpoint, job.broadcast_endpoint,
                        "--seconds", seconds, "--clients", "8", "--disconnect-prob", "0.002",
                        "--job-name", job.name],
                       capture_output=True, text=True, timeout=int(float(seconds)) + 120)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "soak found violations (see the summary above)")
    status = job.stop()
    check(status == 0, "kfarm exited %s after SIGTERM" % status)
print("ok: soak smoke")
