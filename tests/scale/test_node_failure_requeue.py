"""A node dies mid-job (kill -9 of everything in its namespace: slurmd, slurmstepd, its ranks).
Slurm notices the node within SlurmdTimeout and ends the job with a node failure; the gateway's
connection closes and the client reports the connection lost (ECONNRESET from kf_client_recv, as
docs/architecture.md says) well before its own time-out could fire, so the reset, not the
time-out, ends its wait; the job, submitted with --requeue and --nodes=3-4, comes back on the 3
remaining nodes with a new endpoint that serves again. The node is revived at the end for the
next tests."""
import json
import subprocess
import time

from scale_harness import CLUSTER, HARNESS, ScaleJob, check, client, start_sleep_load, stats

# Far above the time Slurm takes to end the job (SlurmdTimeout 10 s + ping + KillWait 5 s), so
# that only the connection reset can end the client's wait in time.
CLIENT_TIMEOUT = 60
RESET_WITHIN = 45

try:
    with ScaleJob("3-4", "1,2,4", ["--max-inflight", "2"], requeue=True) as job:
        first = job.endpoint
        check(len(stats(first)["workers"]) == 7, "expected 7 workers on 3 worker nodes")
        # A steady load on every worker: 20 ms requests, 14 in flight (all slots).
        load = start_sleep_load(first, 14, CLIENT_TIMEOUT)
        subprocess.run([HARNESS, "kill-node", CLUSTER, "node4"], check=True)
        killed_at = time.monotonic()
        try:
            out, err = load.communicate(timeout=CLIENT_TIMEOUT + 60)
        except subprocess.TimeoutExpired:
            load.kill()
            check(False, "the client still waits %d s after node4 died (its time-out is %d s)"
                  % (CLIENT_TIMEOUT + 60, CLIENT_TIMEOUT))
        waited = time.monotonic() - killed_at
        summary = json.loads(out)
        print("client ended %.1f s after the node died, exit %d: %s" % (waited, load.returncode,
                                                                         err.strip()))
        print("client summary:", summary)
        check(load.returncode != 0, "the client reported success although a node died")
        check("connection to the gateway was lost" in err,
              "the client did not see the connection reset: %r" % err)
        check(summary["timeouts"] > 0, "no request reported unanswered: %r" % summary)
        # The reset comes once Slurm has ended the job: within SlurmdTimeout (10 s) plus its ping
        # interval and KillWait (5 s), long before the client's own time-out.
        check(waited < RESET_WITHIN, "the client took %.0f s to see the connection reset"
              % waited)

        # Slurm requeues the job (same id) and it starts again on node1..node3.
        new = job.wait_endpoints(120, not_equal=first)
        info = job.info()
        print("requeued:", " ".join(l.strip() for l in info.splitlines()
                                    if "Restarts" in l or " NodeList=" in l))
        check("Restarts=1" in info, "the job was not requeued:\n" + info)
        check("node4" not in [l for l in info.splitlines() if " NodeList=" in l][0],
              "the requeued job runs on the dead node:\n" + info)
        check("NODE FAILURE" in job.output() or "Node failure" in job.output(),
              "the job log does not mention the node failure:\n" + job.output())
        check(len(stats(new)["workers"]) == 3, "expected 3 workers (node2: 1, node3: 2) after "
              "the requeue: %r" % stats(new))
        _, out, _ = client("--connect", new, "-n", "3000", "--inflight", "16", "--verify-echo",
                           "--data", "after-requeue", "--json", "--quiet")
        check(json.loads(out)["errors"] == 0, out)
finally:
    # The next tests want all 4 nodes; slurmd registers again and ReturnToService=2 resumes it.
    subprocess.run([HARNESS, "revive-node", CLUSTER, "node4"], check=False)
print("ok: a node failure ends the client's wait within its time-out; the requeued job serves on "
      "the remaining nodes")
