"""Faults of a running job: a worker rank killed (SIGKILL), then the gateway rank killed. What is
checked (and documented in docs/security.md): srun ends the whole job (--kill-on-bad-exit) within
20 s with a failure status, no rank of the job is left running, and a client under load gets
errors or time-outs within its --timeout instead of hanging."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import CLIENT, Job, check, fail, ranks_of, wait_until  # noqa: E402

for victim, what in ((1, "worker rank 1"), (0, "the gateway (rank 0)")):
    with Job(3, []) as job:
        wait_until(lambda: len(ranks_of(job.name)) == 3, 30, "the job's 3 ranks")
        pid = ranks_of(job.name)[victim]
        load = subprocess.Popen([CLIENT, "--connect", job.endpoint, "--kind", "sleep", "--data",
                                 '{"ms": 20}', "-n", "100000", "--inflight", "8", "--timeout", "5",
                                 "--json", "--quiet"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        if load.poll() is not None:
            fail("the load client stopped early: %r" % (load.communicate(),))
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: job.proc.poll() is not None, 20, "srun to end the job after %s died" % what)
        ended = time.monotonic() - t0
        wait_until(lambda: not ranks_of(job.name), 10, "every rank of the job to be gone")
        check(job.proc.returncode != 0, "srun reported success after %s was killed" % what)
        try:
            out, err = load.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            load.kill()
            check(False, "the client hung after %s was killed" % what)
        client_s = time.monotonic() - t0
        check(load.returncode != 0, "the client claims success after %s was killed" % what)
        print("%s killed: job ended in %.1f s (srun status %d); client ended after %.1f s: %s" %
              (what, ended, job.proc.returncode, client_s, err.strip().splitlines()[-1:]))
print("ok: rank faults end the job cleanly and clients do not hang")
