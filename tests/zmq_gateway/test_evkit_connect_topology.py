"""An unchanged EvKit client (binds DEALER + PUB) served by kfarm in connect mode: every request
answered with a 3-frame ok reply, and a topic-prefixed broadcast reaches every worker."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
sys.path.insert(0, os.path.dirname(__file__))
from kfarm_harness import Job, check, fail, free_port  # noqa: E402
from evkit_client import Client, Message, TOPIC  # noqa: E402


def check_evkit_client(client, job):
    """Runs the checks with an EvKit client whose sockets the job's gateway connected to (also used
    by tests/scale); job.output() is shown when a broadcast never arrives."""
    # Requests flow once the gateway has connected; EvKit clients simply start sending.
    for batch in range(3):
        msgs = [Message("echo", {"vehicle": i, "batch": batch}) for i in range(500)]
        out = client.compute(msgs)
        for i, raw in enumerate(out):
            check(json.loads(raw) == {"vehicle": i, "batch": batch},
                  "batch %d reply %d does not match its request: %r" % (batch, i, raw))
    # A broadcast: once one reply shows it, the gateway has received it, so every request sent
    # afterwards must see it on whichever worker runs it.
    client.broadcast(Message("set-state", "speeds-v2"))
    for attempt in range(200):
        if json.loads(client.compute([Message("get-state", None)])[0] or b'""') == "speeds-v2":
            break
    else:
        fail("the broadcast never reached a worker:\n" + job.output())
    states = client.compute([Message("get-state", None) for _ in range(300)])
    bad = [s for s in states if json.loads(s) != "speeds-v2"]
    check(not bad, "%d of 300 requests ran on a worker without the broadcast" % len(bad))
    # A broadcast outside the topic is not delivered. Checked after a later in-topic broadcast on
    # the same socket has arrived (one PUB connection keeps their order), so "filtered" cannot be
    # mistaken for "not arrived yet"; the gateway's broadcast count shows the foreign one was never
    # forwarded, whatever a worker would have done with its kind.
    forwarded = gateway_broadcasts(client)
    client.broadcast_socket.send_multipart([b"other-app:set-state", b'"foreign"'])
    client.broadcast(Message("set-state", "speeds-v2.1"))
    seen = []
    for attempt in range(200):
        seen.append(json.loads(client.compute([Message("get-state", None)])[0] or b'""'))
        if seen[-1] == "speeds-v2.1":
            break
    else:
        fail("the in-topic broadcast after the foreign one never reached a worker:\n" + job.output())
    check("foreign" not in seen, "a foreign-topic broadcast was applied: %r" % seen)
    check(gateway_broadcasts(client) == forwarded + 1,
          "the gateway forwarded %d broadcasts for one in-topic and one foreign-topic broadcast"
          % (gateway_broadcasts(client) - forwarded))
    states = client.compute([Message("get-state", None) for _ in range(50)])
    check(all(json.loads(s) == "speeds-v2.1" for s in states),
          "a request after the in-topic broadcast ran without it: %r" % states)


def gateway_broadcasts(client):
    """Broadcasts the gateway has forwarded to its workers ($stats)."""
    return json.loads(client.compute([Message("$stats", None)])[0])["broadcasts"]


if __name__ == "__main__":
    port, bport = free_port(), free_port()
    client = Client(port, bport)
    with Job(4, ["--connect", "tcp://127.0.0.1:%d" % port,
                 "--broadcast-connect", "tcp://127.0.0.1:%d" % bport, "--topic", TOPIC],
             bind=False) as job:
        check_evkit_client(client, job)
        status = job.stop()
        check(status == 0, "kfarm exited %s after SIGTERM:\n%s" % (status, job.output()))
    client.close()
    print("ok: EvKit client served in connect topology")
