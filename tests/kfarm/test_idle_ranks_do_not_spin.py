"""Neither the gateway nor idle workers spin a core: with 4 ranks on 2 cores and no traffic, each
rank uses under 5% of a core (CPU time from /proc, not wall time, so a busy machine does not
change the figure); and after a burst of requests they go back to sleep."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check, client, cpu_seconds, kfarm_processes  # noqa: E402


def busiest_rank_share(pids, seconds):
    before = {p: cpu_seconds(p) for p in pids}
    time.sleep(seconds)
    return max((cpu_seconds(p) - before[p]) / seconds for p in pids)


with Job(4, []) as job:
    ranks = kfarm_processes()
    check(len(ranks) == 4, "expected 4 kfarm ranks, found %r" % ranks)
    share = busiest_rank_share(ranks, 3)
    check(share < 0.05, "an idle rank used %.0f%% of a core" % (share * 100))
    client("--connect", job.endpoint, "-n", "20000", "--inflight", "32", "--quiet")
    time.sleep(0.5)
    after = busiest_rank_share(ranks, 3)
    check(after < 0.05, "after a burst, a rank kept using %.0f%% of a core" % (after * 100))
print("ok: idle ranks use %.1f%% / %.1f%% of a core at most (before / after a burst)"
      % (share * 100, after * 100))
