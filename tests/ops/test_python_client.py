"""clients/python/kfarm_client.py against a real kfarm job in both topologies: EvKit-style
Client(port, broadcast_port) + compute + broadcast; Client.from_endpoint_file (bind topology);
ordered $broadcast:; a time-out names the missing ids; an error reply names its request."""
import json
import os
import sys

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from kfarm_harness import Job, check, fail, free_port  # noqa: E402
from kfarm_client import TOPIC, Client, Message, RequestError, Timeout  # noqa: E402


def exercise(client, job, label):
    # compute: replies in request order, equal to what was sent (echo)
    msgs = [Message("echo", {"vehicle": i, "who": label}) for i in range(300)]
    out = client.compute(msgs)
    check(len(out) == 300 and all(json.loads(r) == {"vehicle": i, "who": label}
                                  for i, r in enumerate(out)), "%s: echo replies differ" % label)
    # PUB broadcast (fire and forget): eventually visible to requests
    client.broadcast(Message("set-state", "pub-" + label))
    for _ in range(200):
        if client.compute([Message("get-state", None)], decode=True)[0] == "pub-" + label:
            break
    else:
        fail("%s: the PUB broadcast never reached a worker:\n%s" % (label, job.output()))
    # ordered broadcast: every request sent after the acknowledgement sees it, on every worker
    client.broadcast(Message("set-state", "ordered-" + label), ordered=True)
    states = client.compute([Message("get-state", None) for _ in range(200)], decode=True)
    check(all(s == "ordered-" + label for s in states),
          "%s: %d requests ran before the ordered broadcast" %
          (label, sum(s != "ordered-" + label for s in states)))
    # an error reply names its request; the rest of the batch still comes back
    batch = [Message("echo", i) for i in range(10)]
    batch[6] = Message("fail", "boom")
    try:
        client.compute(batch)
        fail("%s: a failing request did not raise" % label)
    except RequestError as e:
        check(e.index == 6 and e.kind == "fail" and "boom" in e.message and e.id in str(e),
              "%s: RequestError does not name the request: %s" % (label, e))
        check([json.loads(r) for i, r in enumerate(e.results) if i != 6] ==
              [i for i in range(10) if i != 6], "%s: other replies lost on error" % label)
    # a time-out raises with the ids still missing
    try:
        client.compute([Message("echo", 1), Message("sleep", {"ms": 1500})], timeout_ms=400)
        fail("%s: a slow request did not time out" % label)
    except Timeout as e:
        check(e.indices == [1] and len(e.missing) == 1 and e.missing[0] in str(e),
              "%s: Timeout does not name the missing request: %s (%r)" % (label, e, e.indices))
    # the late reply of the timed-out request is not mistaken for a later one
    out = client.compute([Message("sleep", {"ms": 1600}), Message("echo", "after")], decode=True)
    check(out == [{"ms": 1600}, "after"], "%s: replies after a time-out: %r" % (label, out))
    print("%s: ok" % label)


# EvKit topology: the client binds, kfarm --connect.
port, bport = free_port(), free_port()
client = Client(port, bport, host="127.0.0.1")
with Job(3, ["--connect", "tcp://127.0.0.1:%d" % port,
             "--broadcast-connect", "tcp://127.0.0.1:%d" % bport, "--topic", TOPIC],
         bind=False) as job:
    exercise(client, job, "connect")
    check(job.stop() == 0, "kfarm (connect) did not stop cleanly:\n" + job.output())
client.close()

# Bind topology: kfarm --bind, the client reads the endpoint file and connects.
with Job(3, ["--topic", TOPIC]) as job:
    with Client.from_endpoint_file(job.endpoint_file) as c:
        exercise(c, job, "bind")
        stats = c.stats()
        served = sum(w["requests"] for w in stats["workers"])
        check(served >= 300, "$stats counts %d requests, expected at least 300" % served)
    check(job.stop() == 0, "kfarm (bind) did not stop cleanly:\n" + job.output())
print("ok: Python client in both topologies")
