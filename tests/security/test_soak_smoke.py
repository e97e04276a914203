"""Soak smoke (30 s): 8 clients with random payloads up to 1 MiB, random disconnects and
reconnects, broadcasts on PUB and on the request socket, against a 3-rank job on the private
Slurm cluster. bench/soak/soak.py checks no loss/duplication and flat RSS and fds.

RSS: 5% of the warm-up median plus 3 MiB. A worker's RSS (about 20 MB) sits about 3 MB higher
whenever its heap holds one 1 MiB request's three buffers (request, result, reply) between two
heap trims (src/common/heap_trim.c), and keeps one level or the other for many seconds; in 30 s
the two medians can land on different levels (2 of about 20 worker windows of 30-60 s runs: +7%
before workers trimmed, +8.4% with the trim; idle RSS back at 19 MB after the latter). The
10^6-request soak (bench/soak) holds the plain 5% (medians within 0.5%). A leak of the request or
reply buffers (tens of KiB per request on average) still fails here within seconds."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import sanitized_build, BUILD, SOURCE, Job, check  # noqa: E402

SOAK = os.path.join(SOURCE, "bench", "soak", "soak.py")
seconds = os.environ.get("KFARM_SOAK_SECONDS", "30")
# Under ASan freed memory waits in the allocator's quarantine (up to 256 MB per process; a worker
# climbed from 59 to 330 MB in 30 s), so RSS says nothing about leaks there: judge it only in
# plain builds (loss, duplicates and fds are checked in both).
rss_args = ["--no-rss-check"] if sanitized_build() else []
with Job(3, []) as job:
    p = subprocess.run(["/usr/bin/python3", SOAK, job.endpoint, job.broadcast_endpoint,
                        "--seconds", seconds, "--clients", "8", "--disconnect-prob", "0.002",
                        "--rss-slack-kib", "3072", "--job-name", job.name] + rss_args,
                       capture_output=True, text=True, timeout=int(float(seconds)) + 120)
    print(p.stdout + p.stderr)
    check(p.returncode == 0, "soak found violations (see the summary above)")
    status = job.stop()
    check(status == 0, "kfarm exited %s after SIGTERM" % status)
print("ok: soak smoke")
