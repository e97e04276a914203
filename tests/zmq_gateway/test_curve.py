"""ZeroMQ CURVE on the gateway. Bind mode: a client whose public key is in --curve-allowed-keys
is served (requests and PUB broadcasts); a client with another key and a plain client get
nothing. Connect mode: the gateway is a CURVE client of an EvKit-style client that binds its
DEALER and PUB as CURVE servers. Bad key options fail the job with a message."""
import os
import subprocess
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import Job, check, fail, free_port  # noqa: E402

tmp = tempfile.mkdtemp(prefix="kfarm-curve-")
ctx = zmq.Context()


def keyfile(name, key, mode=0o600):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(b"# " + name.encode() + b"\n" + key + b"\n")
    os.chmod(path, mode)
    return path


def request(sock, rid, kind=b"echo", payload=b"hello", timeout_ms=10000):
    sock.send_multipart([rid, kind, payload])
    if not sock.poll(timeout_ms):
        return None
    return sock.recv_multipart()


def dealer(endpoint, server_public=None, keys=None):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if server_public:
        s.curve_serverkey = server_public
        s.curve_publickey, s.curve_secretkey = keys
    s.connect(endpoint)
    return s


gw_pub, gw_sec = zmq.curve_keypair()
a_pub, a_sec = zmq.curve_keypair()
b_pub, b_sec = zmq.curve_keypair()
gw_secret = keyfile("gateway.secret", gw_sec)
allowed = keyfile("allowed", a_pub)

# --- bind mode ---------------------------------------------------------------------------------
with Job(3, ["--curve-secret-key", gw_secret, "--curve-allowed-keys", allowed]) as job:
    a = dealer(job.endpoint, gw_pub, (a_pub, a_sec))
    reply = request(a, b"1")
    check(reply == [b"1", b"ok", b"hello"], "the allowed client was not served: %r\n%s" %
          (reply, job.output()))
    # its PUB broadcasts reach the workers through the CURVE SUB socket
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.curve_serverkey = gw_pub
    pub.curve_publickey, pub.curve_secretkey = a_pub, a_sec
    pub.connect(job.broadcast_endpoint)
    deadline = time.monotonic() + 20
    while True:
        pub.send_multipart([b"set-state", b'"curve-v1"'])
        r = request(a, b"s", b"get-state", b"")
        if r and r[1] == b"ok" and r[2] == b'"curve-v1"':
            break
        if time.monotonic() > deadline:
            fail("a CURVE PUB broadcast never reached a worker: %r" % (r,))
        time.sleep(0.1)
    b = dealer(job.endpoint, gw_pub, (b_pub, b_sec))
    check(request(b, b"2", timeout_ms=3000) is None, "a client with an unlisted key was served")
    plain = dealer(job.endpoint)
    check(request(plain, b"3", timeout_ms=3000) is None, "a plain (no CURVE) client was served")
    # the refused clients did not disturb the allowed one
    check(request(a, b"4") == [b"4", b"ok", b"hello"], "the allowed client stopped being served")
    check("refused a client" in job.output(), "refusals are not logged:\n" + job.output())
    for s in (a, b, plain, pub):
        s.close()
    check(job.stop() == 0, "kfarm exited non-zero after SIGTERM:\n" + job.output())

# --- connect mode: the client binds CURVE-server sockets, the gateway connects with its keys ---
c_pub, c_sec = zmq.curve_keypair()
gw_public_of_client = keyfile("client.public", c_pub)
port, bport = free_port(), free_port()
srv = ctx.socket(zmq.DEALER)
srv.setsockopt(zmq.LINGER, 0)
srv.curve_server = True
srv.curve_secretkey = c_sec
srv.bind("tcp://127.0.0.1:%d" % port)
with Job(3, ["--connect", "tcp://127.0.0.1:%d" % port, "--curve-secret-key", gw_secret,
             "--curve-server-key", gw_public_of_client], bind=False) as job:
    srv.send_multipart([b"9", b"echo", b"over curve"])
    if not srv.poll(30000):
        fail("no reply in CURVE connect mode:\n" + job.output())
    check(srv.recv_multipart() == [b"9", b"ok", b"over curve"], "wrong reply in connect mode")
    check(job.stop() == 0, "kfarm exited non-zero after SIGTERM:\n" + job.output())
srv.close()

# --- bad key options fail the job with a message that names the file ----------------------------
bad = keyfile("bad.secret", b"not-a-key")
with Job(3, ["--curve-secret-key", bad, "--curve-allowed-keys", allowed], wait=False) as job:
    try:
        job.proc.wait(60)
    except subprocess.TimeoutExpired:
        fail("kfarm kept running with an invalid CURVE key")
    check(job.proc.returncode != 0 and "bad.secret" in job.output(),
          "no clear error for an invalid key:\n" + job.output())
readable = keyfile("readable.secret", gw_sec, 0o644)  # a good key others may read: refused
with Job(3, ["--curve-secret-key", readable, "--curve-allowed-keys", allowed], wait=False) as job:
    try:
        job.proc.wait(60)
    except subprocess.TimeoutExpired:
        fail("kfarm kept running with a secret key file others may read")
    check(job.proc.returncode != 0 and "readable.secret has mode 0644" in job.output() and
          "chmod 600" in job.output(), "a 0644 secret key file was accepted:\n" + job.output())
with Job(3, ["--curve-secret-key", gw_secret], wait=False) as job:
    job.proc.wait(60)
    check(job.proc.returncode != 0 and "--curve-allowed-keys" in job.output(),
          "bind mode CURVE without allowed keys was accepted:\n" + job.output())
ctx.term()
subprocess.run(["rm", "-rf", tmp], check=False)
print("ok: CURVE admits only listed keys, in bind and connect mode")
