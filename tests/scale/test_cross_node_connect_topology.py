"""Connect (EvKit) topology across nodes: an unchanged EvKit client binds its DEALER and PUB in the
root namespace on the bridge address; the gateway on node1 connects to them, workers on
node2..node4. Everything the single-node EvKit test checks holds, and the topic broadcast reaches
every rank on every node."""
import json

from scale_harness import HOST_ADDR, ScaleJob, check, free_port
from evkit_client import TOPIC, Client, Message
from test_evkit_connect_topology import check_evkit_client


port, bport = free_port(HOST_ADDR), free_port(HOST_ADDR)
client = Client(port, bport, host=HOST_ADDR)
with ScaleJob(4, "1,2,4", ["--connect", "tcp://%s:%d" % (HOST_ADDR, port),
                           "--broadcast-connect", "tcp://%s:%d" % (HOST_ADDR, bport),
                           "--topic", TOPIC, "--max-inflight", "2"], endpoint=False) as job:
    check_evkit_client(client, job)

    # Every rank: enough get-state requests in flight to fill every slot of all 7 workers.
    before = json.loads(client.compute([Message("$stats", None)])[0])["workers"]
    client.broadcast(Message("set-state", "speeds-v3"))
    for attempt in range(200):
        if json.loads(client.compute([Message("get-state", None)])[0] or b'""') == "speeds-v3":
            break
    else:
        check(False, "the second broadcast never reached a worker:\n" + job.output())
    states = client.compute([Message("get-state", None) for _ in range(400)])
    bad = [s for s in states if json.loads(s) != "speeds-v3"]
    check(not bad, "%d of 400 requests ran on a worker without the broadcast" % len(bad))
    after = json.loads(client.compute([Message("$stats", None)])[0])["workers"]
    check(len(after) == 7, "expected 7 workers, $stats shows %d" % len(after))
    ran = [a["requests"] - b["requests"] for a, b in zip(after, before)]
    check(all(r > 0 for r in ran), "some workers ran none of the requests after the broadcast: %r"
          % ran)
    print("get-state after the broadcast, per worker:", ran)
client.close()
print("ok: EvKit client in the root namespace served by a gateway on node1 and workers on 3 nodes")
