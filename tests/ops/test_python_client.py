"""The Python package clients/python (`kfarm`) installed with pip into a venv made with
--system-site-packages (pyzmq from Debian), used from that venv against real kfarm jobs:
EvKit topology (the client binds, kfarm --connect, topic traffic-sim:) and bind topology
(endpoint file, kfarm's default topic): compute, PUB and ordered broadcasts, RequestError naming
its request, Timeout naming the missing id, a late reply not taken for a later one, stats();
submit() futures with as_completed(); the asyncio client; CURVE with a client key pair."""
import asyncio
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from kfarm_harness import SOURCE, Job, check, fail, free_port  # noqa: E402

if os.environ.get("KFARM_TEST_IN_VENV") is None:
    # Phase 1 (Debian's python3): make the venv, install the package, run phase 2 in it.
    venv = tempfile.mkdtemp(prefix="kfarm-venv-")
    try:
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv],
                       check=True)
        pip = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--no-index",
                              os.path.join(SOURCE, "clients", "python")],
                             capture_output=True, text=True, cwd=venv)
        check(pip.returncode == 0, "pip install ./clients/python failed:\n%s%s"
              % (pip.stdout, pip.stderr))
        env = dict(os.environ, KFARM_TEST_IN_VENV=venv)
        sys.exit(subprocess.run([os.path.join(venv, "bin", "python"), "-u", __file__],
                                env=env, cwd=venv).returncode)
    finally:
        subprocess.run(["rm", "-rf", venv])

import zmq  # noqa: E402

import kfarm  # noqa: E402
import kfarm.aio  # noqa: E402
from kfarm import (EVKIT_TOPIC, Client, Curve, Message, RequestError, Timeout,  # noqa: E402
                   TopicMismatch, as_completed)
from kfarm.client import check_topic  # noqa: E402

venv = os.environ["KFARM_TEST_IN_VENV"]
check(kfarm.__file__.startswith(venv) and not kfarm.__file__.startswith(SOURCE),
      "kfarm imported from %s, not from the venv %s" % (kfarm.__file__, venv))
check(os.path.exists(os.path.join(os.path.dirname(kfarm.__file__), "py.typed")),
      "the installed package has no py.typed")
check(kfarm.TOPIC == "", "the default topic is %r, kfarm's is none" % kfarm.TOPIC)
print("package: %s %s" % (kfarm.__file__, kfarm.__version__))


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
    print("%s: blocking calls ok" % label)


def exercise_futures(client, label):
    # submit() returns futures at once; as_completed yields each as its reply comes: a slow
    # request submitted first is not first (the other worker answers echoes meanwhile; those
    # queued behind it on its own worker may come after it).
    slow = client.submit("sleep", {"ms": 800}, decode=True)
    fast = [client.submit("echo", i, decode=True) for i in range(50)]
    order = list(as_completed([slow] + fast, timeout=30))
    check(order[0] is not slow and sorted(f.result() for f in order if f is not slow) ==
          list(range(50)) and slow.result() == {"ms": 800},
          "%s: as_completed order/results wrong: first %r" % (label, order[0].id))
    bad = client.submit("fail", "no")
    try:
        bad.result(30)
        fail("%s: a failing future did not raise" % label)
    except RequestError as e:
        check(e.id == bad.id and e.kind == "fail", "%s: future error %s" % (label, e))
    try:
        list(as_completed([client.submit("sleep", {"ms": 1500})], timeout=0.3))
        fail("%s: as_completed did not time out" % label)
    except Timeout as e:
        check(len(e.missing) == 1, "%s: as_completed Timeout: %s" % (label, e))
    print("%s: futures ok" % label)


async def exercise_asyncio(job):
    async with await kfarm.aio.Client.from_endpoint_file(job.endpoint_file) as c:
        out = await c.compute([Message("echo", i) for i in range(200)], decode=True)
        check(out == list(range(200)), "asyncio: compute replies differ")
        slow = c.submit("sleep", {"ms": 600}, decode=True)
        futs = [slow] + [c.submit("echo", i, decode=True) for i in range(30)]
        got = [await f for f in asyncio.as_completed(futs, timeout=30)]
        check(got[0] != {"ms": 600} and {"ms": 600} in got and
              sorted(g for g in got if g != {"ms": 600}) == list(range(30)),
              "asyncio: as_completed gave %r" % got[:3])
        await c.broadcast(Message("set-state", "async-ordered"), ordered=True)
        states = await c.compute([Message("get-state", None) for _ in range(100)], decode=True)
        check(all(s == "async-ordered" for s in states), "asyncio: ordered broadcast not seen")
        await c.broadcast(Message("set-state", "async-pub"))
        for _ in range(200):
            if await c.request("get-state", None, decode=True) == "async-pub":
                break
            await asyncio.sleep(0.02)
        else:
            fail("asyncio: the PUB broadcast never reached a worker")
        try:
            await c.compute([Message("echo", 1), Message("fail", "bad")])
            fail("asyncio: a failing request did not raise")
        except RequestError as e:
            check(e.index == 1 and e.kind == "fail", "asyncio: %s" % e)
        try:
            await c.compute([Message("sleep", {"ms": 1500})], timeout_ms=300)
            fail("asyncio: a slow request did not time out")
        except Timeout as e:
            check(e.indices == [0], "asyncio: Timeout %s" % e)
        stats = await c.stats()
        check(sum(w["requests"] for w in stats["workers"]) > 0, "asyncio: $stats %r" % stats)
    print("asyncio: ok")


# The topic check a gateway's $info allows refuses a mismatch with what to change.
try:
    check_topic({"topic": "traffic-sim:"}, "")
    fail("a topic mismatch was not refused")
except TopicMismatch as e:
    check("topic='traffic-sim:'" in str(e), "TopicMismatch does not say what to pass: %s" % e)

# EvKit topology: the client binds, kfarm --connect with EvKit's topic.
port, bport = free_port(), free_port()
client = Client(port, bport, host="127.0.0.1", topic=EVKIT_TOPIC)
with Job(3, ["--connect", "tcp://127.0.0.1:%d" % port,
             "--broadcast-connect", "tcp://127.0.0.1:%d" % bport, "--topic", EVKIT_TOPIC],
         bind=False) as job:
    exercise(client, job, "connect")
    exercise_futures(client, "connect")
    check(job.stop() == 0, "kfarm (connect) did not stop cleanly:\n" + job.output())
client.close()

# Bind topology with kfarm's and the client's default topic (none), then the asyncio client.
with Job(3, []) as job:
    with Client.from_endpoint_file(job.endpoint_file) as c:
        exercise(c, job, "bind")
        exercise_futures(c, "bind")
        stats = c.stats()
        served = sum(w["requests"] for w in stats["workers"])
        check(served >= 300, "$stats counts %d requests, expected at least 300" % served)
    asyncio.run(exercise_asyncio(job))
    check(job.stop() == 0, "kfarm (bind) did not stop cleanly:\n" + job.output())

# CURVE: the client authenticates with its key pair; the gateway's key comes as an option.
tmp = tempfile.mkdtemp(prefix="kfarm-py-curve-")
gw_pub, gw_sec = zmq.curve_keypair()
me_pub, me_sec = zmq.curve_keypair()
for name, key in (("gw.secret", gw_sec), ("allowed", me_pub), ("me.secret", me_sec)):
    with open(os.path.join(tmp, name), "wb") as f:
        f.write(b"# " + name.encode() + b"\n" + key + b"\n")
    if name.endswith(".secret"):  # kfarm refuses a secret key others may read
        os.chmod(os.path.join(tmp, name), 0o600)
with Job(3, ["--curve-secret-key", os.path.join(tmp, "gw.secret"),
             "--curve-allowed-keys", os.path.join(tmp, "allowed")]) as job:
    curve = Curve(server_key=gw_pub.decode(), secret_key=os.path.join(tmp, "me.secret"))
    with Client.from_endpoint_file(job.endpoint_file, curve=curve) as c:
        check(c.request("echo", "sealed", decode=True) == "sealed", "CURVE request failed")
    stranger = Curve(server_key=gw_pub, public_key=gw_pub, secret_key=gw_sec)
    with Client.connect(job.endpoint, curve=stranger, check=False) as c:
        try:
            c.request("echo", "x", timeout_ms=1500)
            fail("a client whose key is not allowed was served")
        except Timeout:
            pass
    check(job.stop() == 0, "kfarm (CURVE) did not stop cleanly:\n" + job.output())
subprocess.run(["rm", "-rf", tmp])
print("ok: the kfarm package from a venv: blocking, futures, asyncio, CURVE")
