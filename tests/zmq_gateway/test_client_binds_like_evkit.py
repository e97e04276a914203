"""kfarm-client in the EvKit topology: the client binds DEALER + XPUB and the gateway connects
(--connect); requests, a topic-prefixed broadcast and its effect all go through."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import CLIENT, Job, check, free_port  # noqa: E402


# The broadcast (PUB socket) and the requests (DEALER) travel on different connections, so the
# first requests may overtake it; one at a time, the replies must show it arrive within PROBES
# round trips and stay: a state that never arrives is a failure, not an empty "ok".
PROBES = 300
port, bport = free_port(), free_port()
# The client binds first (as EvKit clients do) and waits for the gateway to connect and subscribe.
cmd = [CLIENT, "--bind", "tcp://127.0.0.1:%d" % port, "--broadcast-bind",
       "tcp://127.0.0.1:%d" % bport, "--broadcast", "app:set-state", "evkit-v1",
       "--kind", "get-state", "-n", str(PROBES), "--print", "--quiet", "--timeout", "60"]
first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
with Job(3, ["--connect", "tcp://127.0.0.1:%d" % port, "--broadcast-connect",
             "tcp://127.0.0.1:%d" % bport, "--topic", "app:"], bind=False) as job:
    out, err = first.communicate(timeout=90)
    check(first.returncode == 0, "client exited %d: %s %s" % (first.returncode, out, err))
    states = {}
    for line in out.splitlines():
        rid, status, state = (line.split(" ", 2) + [""])[:3]
        check(status == "ok" and state in ("", "evkit-v1"), "unexpected reply %r" % line)
        states[int(rid)] = state
    check(sorted(states) == list(range(PROBES)), "not one reply per request: %r" % out)
    # Only its own broadcast can have set the state. Requests went one at a time, so once a reply
    # shows it, the gateway had forwarded it to every worker before any later request.
    seen = [i for i in range(PROBES) if states[i] == "evkit-v1"]
    check(seen, "the broadcast never reached a worker: %d get-state replies all empty" % PROBES)
    check(all(states[i] == "evkit-v1" for i in range(seen[0], PROBES)),
          "a request after the broadcast was seen ran without it: %r" % states)
    print("the broadcast was seen from request %d of %d on" % (seen[0], PROBES))
    status = job.stop()
    check(status == 0, "kfarm exited %s" % status)
# A second client run on the same ports: 2000 requests verified one by one.
with Job(3, ["--connect", "tcp://127.0.0.1:%d" % port], bind=False, wait=False) as job:
    p = subprocess.run([CLIENT, "--bind", "tcp://127.0.0.1:%d" % port, "-n", "2000", "--inflight",
                        "16", "--verify-echo", "--data", "e", "--json", "--quiet", "--timeout",
                        "60"], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "client exited %d: %s %s" % (p.returncode, p.stdout, p.stderr))
    check('"count": 2000' in p.stdout, p.stdout)
print("ok: kfarm-client serves as an EvKit-topology client")
