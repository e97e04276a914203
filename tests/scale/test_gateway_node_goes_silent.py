"""The gateway's node vanishes without closing anything (its link goes down: no FIN, no RST, as on
a power or network failure). The client notices through ZMTP heartbeats within a few seconds,
well before its own time-out, and says the connection was lost; the node then rejoins."""
import json
import subprocess
import time

from scale_harness import CLUSTER, HARNESS, ScaleJob, check, start_sleep_load, stats

CLIENT_TIMEOUT = 60  # far above the heartbeat time-out (6 s): a pass cannot come from it

with ScaleJob(3, "1,1", ["--max-inflight", "2"]) as job:
    try:
        check(len(stats(job.endpoint)["workers"]) == 2, "expected 2 workers")
        load = start_sleep_load(job.endpoint, 4, CLIENT_TIMEOUT)
        subprocess.run([HARNESS, "isolate-node", CLUSTER, "node1"], check=True)
        silent_at = time.monotonic()
        try:
            out, err = load.communicate(timeout=CLIENT_TIMEOUT - 10)
        except subprocess.TimeoutExpired:
            load.kill()
            check(False, "the client did not notice the silent gateway within %d s"
                  % (CLIENT_TIMEOUT - 10))
        waited = time.monotonic() - silent_at
        print("client ended %.1f s after node1 went silent: %s" % (waited, err.strip()))
        check(load.returncode != 0 and "connection to the gateway was lost" in err,
              "the client did not report the lost connection: %r" % err)
        check(waited < 20, "the client took %.0f s to notice (heartbeat time-out 6 s)" % waited)
        check(json.loads(out)["timeouts"] > 0, out)
    finally:
        # Back before the job is cancelled: slurmctld must reach node1 to end the job there.
        subprocess.run([HARNESS, "rejoin-node", CLUSTER, "node1"], check=False)
print("ok: a gateway node that went silent is noticed by heartbeats in seconds")
