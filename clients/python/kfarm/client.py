"""Python client for kfarm (and any EvKit worker), built on Debian's python3-zmq.

Drop-in for existing EvKit clients (the traffic simulator's zeromq client):

    from kfarm_client import Client, Message
    client = Client(port, broadcast_port)          # binds DEALER + PUB; kfarm --connect to it
    replies = client.compute([Message("monte-carlo", request), ...])
    client.broadcast(Message("load-profiles", profiles))

and for a gateway that bound its sockets (kfarm --bind, many clients):

    client = Client.connect("tcp://node:5555", "tcp://node:5556")
    client = Client.from_endpoint_file("endpoints")  # written by kfarm --endpoint-file

Beyond EvKit: `broadcast(..., ordered=True)` sends `$broadcast:<kind>` on the request socket
(applied on every worker before any later request, acknowledged); a time-out raises `Timeout`
naming the ids still missing; an error reply raises `RequestError` naming the request; `stats()`
returns the gateway's `$stats`.
"""
import json
import time

import zmq

__all__ = ["Client", "Message", "KfarmError", "Timeout", "RequestError", "TOPIC"]

TOPIC = "traffic-sim:"  # the subscription prefix EvKit clients put before broadcast kinds


class Message:
    """A request or broadcast: `kind` names the kernel, `data` is JSON-encoded as the payload
    (pass `raw=True` to send bytes/str as they are)."""

    def __init__(self, kind, data, raw=False):
        self.kind = kind
        self.data = data
        self.raw = raw

    def payload(self):
        if self.raw:
            return self.data if isinstance(self.data, bytes) else str(self.data).encode()
        return json.dumps(self.data).encode()


class KfarmError(Exception):
    """Base class of this module's errors."""


class Timeout(KfarmError):
    """No reply came within the time-out. `missing` lists the request ids still unanswered and
    `indices` their positions in the compute() call."""

    def __init__(self, timeout_ms, missing, indices):
        self.missing = missing
        self.indices = indices
        super().__init__("no reply within %d ms; %d requests unanswered (ids %s)"
                         % (timeout_ms, len(missing), _abbrev(missing)))


class RequestError(KfarmError):
    """The gateway or a worker answered a request with an error. Names the first failed request
    (`id`, `index` in the compute() call, `kind`, `message`); `errors` lists all of the batch as
    (index, id, kind, message), and `results` holds the batch's replies (None where failed)."""

    def __init__(self, errors, results):
        self.errors = errors
        self.results = results
        self.index, self.id, self.kind, self.message = errors[0]
        more = " (and %d more failed)" % (len(errors) - 1) if len(errors) > 1 else ""
        super().__init__("request %s (#%d, kind %r) failed: %s%s"
                         % (self.id, self.index, self.kind, self.message, more))


def _abbrev(ids, n=10):
    s = ", ".join(ids[:n])
    return s + (", ..." if len(ids) > n else "")


def read_endpoint_file(path, timeout=30.0):
    """Reads KFARM_ENDPOINT / KFARM_BROADCAST_ENDPOINT from `kfarm --endpoint-file`, waiting up to
    timeout seconds for it to appear (the job writes it once every worker is up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                values = dict(line.strip().split("=", 1) for line in f if "=" in line)
            if "KFARM_ENDPOINT" in values:
                return values["KFARM_ENDPOINT"], values.get("KFARM_BROADCAST_ENDPOINT")
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise Timeout(int(timeout * 1000), [], [])
        time.sleep(0.05)


class Client:
    """EvKit topology by default: binds a DEALER on `port` and a PUB on `broadcast_port` (on
    `host`, all interfaces by default) and waits `settle` seconds for gateways to connect and
    subscribe, as EvKit clients do. See Client.connect for the bind topology."""

    def __init__(self, port=None, broadcast_port=None, host="*", window=64, timeout_ms=30000,
                 topic=TOPIC, settle=1.0, _endpoints=None):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.broadcast_socket = None
        self.window = window
        self.timeout_ms = timeout_ms
        self.topic = topic
        self._next_id = 0
        if _endpoints is None:
            self.socket.bind("tcp://%s:%d" % (host, port))
            if broadcast_port is not None:
                self.broadcast_socket = self.context.socket(zmq.PUB)
                self.broadcast_socket.setsockopt(zmq.LINGER, 0)
                self.broadcast_socket.bind("tcp://%s:%d" % (host, broadcast_port))
        else:
            endpoint, broadcast_endpoint = _endpoints
            self.socket.connect(endpoint)
            if broadcast_endpoint:
                self.broadcast_socket = self.context.socket(zmq.PUB)
                self.broadcast_socket.setsockopt(zmq.LINGER, 0)
                self.broadcast_socket.connect(broadcast_endpoint)
        if settle:
            time.sleep(settle)  # PUB/SUB slow joiner: broadcasts before subscription are lost

    @classmethod
    def connect(cls, endpoint, broadcast_endpoint=None, **kw):
        """Bind topology: connect to a gateway started with kfarm --bind."""
        kw.setdefault("settle", 0.3 if broadcast_endpoint else 0)
        return cls(_endpoints=(endpoint, broadcast_endpoint), **kw)

    @classmethod
    def from_endpoint_file(cls, path, wait=30.0, **kw):
        """Bind topology, endpoints read from the file kfarm --endpoint-file wrote."""
        endpoint, broadcast_endpoint = read_endpoint_file(path, wait)
        return cls.connect(endpoint, broadcast_endpoint, **kw)

    def _new_id(self):
        i = self._next_id
        self._next_id += 1
        return str(i)

    def _send(self, rid, kind, payload):
        self.socket.send_multipart([rid.encode(), kind.encode(), payload])

    def _recv(self, timeout_ms):
        """One reply as (id, ok, payload-or-message), or None on time-out."""
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        frames = self.socket.recv_multipart()
        rid = frames[0].decode(errors="replace")
        if len(frames) == 3 and frames[1] == b"ok":
            return rid, True, frames[2]
        if len(frames) == 2:
            return rid, False, frames[1].decode(errors="replace")
        return rid, False, "reply of unexpected shape (%d frames)" % len(frames)

    def compute(self, messages, timeout_ms=None, decode=False):
        """Sends every message (at most `window` outstanding) and returns the reply payloads in
        request order (bytes; JSON-decoded with decode=True, an empty payload as None). Raises
        Timeout when no reply comes (or no gateway takes a request) for timeout_ms, RequestError
        when any request failed (after the batch completes, so no stale reply is left behind)."""
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        n = len(messages)
        results = [None] * n
        index_of = {}
        errors = []
        sent = 0
        while sent < n or index_of:
            while sent < n and len(index_of) < self.window:
                # A DEALER with no gateway connected blocks on send: bound that wait too.
                if not self.socket.poll(timeout_ms, zmq.POLLOUT):
                    unsent = [str(i) for i in range(sent, n)]
                    missing = sorted(index_of, key=index_of.get)
                    raise Timeout(timeout_ms, missing + ["(unsent #%s)" % i for i in unsent],
                                  [index_of[m] for m in missing] + list(range(sent, n)))
                rid = self._new_id()
                index_of[rid] = sent
                self._send(rid, messages[sent].kind, messages[sent].payload())
                sent += 1
            reply = self._recv(timeout_ms)
            if reply is None:
                missing = sorted(index_of, key=index_of.get)
                raise Timeout(timeout_ms, missing, [index_of[m] for m in missing])
            rid, ok, data = reply
            i = index_of.pop(rid, None)
            if i is None:
                continue  # an answer to an earlier call that timed out
            if ok:
                results[i] = (json.loads(data) if data else None) if decode else data
            else:
                errors.append((i, rid, messages[i].kind, data))
        if errors:
            errors.sort()
            raise RequestError(errors, results)
        return results

    def request(self, kind, data, timeout_ms=None, raw=False):
        """One request; returns its reply payload (bytes)."""
        return self.compute([Message(kind, data, raw)], timeout_ms)[0]

    def broadcast(self, message, ordered=False, timeout_ms=None):
        """Fire-and-forget on the PUB socket, as EvKit does: [topic + kind, payload]. With
        ordered=True it goes on the request socket as $broadcast:<topic+kind> instead, and returns
        once the gateway has queued it to every worker (so every later request sees it)."""
        if not ordered:
            if self.broadcast_socket is None:
                raise KfarmError("no broadcast socket: give broadcast_port / broadcast_endpoint, "
                                 "or use broadcast(..., ordered=True)")
            self.broadcast_socket.send_multipart([(self.topic + message.kind).encode(),
                                                  message.payload()])
            return
        kind = "$broadcast:" + self.topic + message.kind
        self.compute([Message(kind, message.payload(), raw=True)], timeout_ms)

    def stats(self, timeout_ms=None):
        """The gateway's $stats document (per rank and per client counters) as a dict."""
        return json.loads(self.compute([Message("$stats", b"", raw=True)], timeout_ms)[0])

    def close(self):
        self.socket.close()
        if self.broadcast_socket is not None:
            self.broadcast_socket.close()
        self.context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
