"""The blocking client, for scripts and existing EvKit clients (the traffic simulator's zeromq
client): compute() a batch, request() one, broadcast(), stats(), and submit() returning
concurrent.futures Futures for code that wants to overlap work with requests.

    from kfarm import Client, Message, as_completed
    with Client.from_endpoint_file("endpoints") as c:        # bind topology (kfarm --bind)
        replies = c.compute([Message("monte-carlo", req) for req in requests])
        futures = [c.submit("monte-carlo", req) for req in requests]
        for f in as_completed(futures):
            print(f.id, f.result())

    client = Client(port, broadcast_port)   # EvKit topology: binds DEALER + PUB, kfarm --connect
"""
import concurrent.futures
import itertools
import sys
import threading
import time
from typing import Any, Iterable, Iterator, List, Optional, Sequence

import zmq

from ._io import Batch, IOThread, RequestFuture
from .endpoints import Curve, Endpoints, read_endpoint_file
from .errors import KfarmError, RequestError, Timeout, TopicMismatch
from .message import Message, as_message

__all__ = ["Client", "RequestFuture", "as_completed", "TOPIC", "EVKIT_TOPIC"]

TOPIC = ""  # kfarm's default --topic: broadcast kinds go out bare
EVKIT_TOPIC = "traffic-sim:"  # what EvKit clients put before kinds (run kfarm --topic traffic-sim:)


def as_completed(futures: Iterable[RequestFuture],
                 timeout: Optional[float] = None) -> Iterator[RequestFuture]:
    """Yields the futures as their replies come (concurrent.futures.as_completed); raises Timeout
    naming the requests still unanswered when `timeout` seconds pass first."""
    futures = list(futures)
    try:
        for f in concurrent.futures.as_completed(futures, timeout):
            yield f  # type: ignore[misc]
    except concurrent.futures.TimeoutError:
        left = [f for f in futures if not f.done()]
        raise Timeout(int((timeout or 0) * 1000), [f.id for f in left],
                      [futures.index(f) for f in left]) from None


def check_topic(info: Optional[dict], topic: str) -> None:
    """Refuses a gateway that subscribes with another topic than this client sends with (from its
    $info; gateways without $info are not checked)."""
    if info is None or "topic" not in info or info["topic"] == topic:
        return
    raise TopicMismatch("the gateway's broadcast topic is %r but this client sends with %r: its "
                        "broadcasts would be dropped; pass topic=%r (or start kfarm with --topic "
                        "%r)" % (info["topic"], topic, info["topic"], topic))


class Client:
    """EvKit topology by default: binds a DEALER on `port` and a PUB on `broadcast_port` (on
    `host`, all interfaces by default) and waits `settle` seconds for gateways to connect and
    subscribe, as EvKit clients do. See Client.connect and Client.from_endpoint_file for the bind
    topology. `window` bounds the requests in flight in compute(); `timeout_ms` is how long
    compute() waits for any reply before it raises Timeout; `topic` is put before broadcast kinds
    and must equal kfarm's --topic (default none). `curve` turns on ZeroMQ CURVE."""

    def __init__(self, port: Optional[int] = None, broadcast_port: Optional[int] = None,
                 host: str = "*", window: int = 64, timeout_ms: int = 30000, topic: str = TOPIC,
                 settle: float = 1.0, curve: Optional[Curve] = None, _endpoints: Any = None):
        # One ZeroMQ context per process (its I/O threads are shared by every client).
        self.context = zmq.Context.instance()
        self.window = window
        self.timeout_ms = timeout_ms
        self.topic = topic
        self._ids = itertools.count()
        self._id_lock = threading.Lock()
        binds = _endpoints is None
        if binds and port is None:
            raise KfarmError("Client(port, broadcast_port) binds (EvKit topology); to reach a "
                             "gateway that binds, use Client.connect or Client.from_endpoint_file")
        req = self._socket(zmq.DEALER, curve, binds)
        pub = None
        try:
            if binds:
                req.bind("tcp://%s:%d" % (host, port))
                if broadcast_port is not None:
                    pub = self._socket(zmq.PUB, curve, binds)
                    pub.bind("tcp://%s:%d" % (host, broadcast_port))
            else:
                endpoint, broadcast_endpoint = _endpoints
                req.connect(endpoint)
                if broadcast_endpoint:
                    pub = self._socket(zmq.PUB, curve, binds)
                    pub.connect(broadcast_endpoint)
        except zmq.ZMQError as e:
            req.close(0)
            if pub is not None:
                pub.close(0)
            raise KfarmError("cannot set up the client's sockets: %s" % e) from None
        self._has_pub = pub is not None
        self._io = IOThread(self.context, req, pub)
        self._io.start()
        self._closed = False
        if settle:
            time.sleep(settle)  # PUB/SUB slow joiner: broadcasts before subscription are lost

    def _socket(self, kind: int, curve: Optional[Curve], binds: bool) -> zmq.Socket:
        s = self.context.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(s, binds)
        return s

    @classmethod
    def connect(cls, endpoint: str, broadcast_endpoint: Optional[str] = None,
                check: bool = True, **kw: Any) -> "Client":
        """Bind topology: connects to a gateway started with kfarm --bind. With check=True, asks
        the gateway's $info and refuses a topic mismatch (TopicMismatch)."""
        kw.setdefault("settle", 0.3 if broadcast_endpoint else 0)
        c = cls(_endpoints=(endpoint, broadcast_endpoint), **kw)
        if check:
            try:
                check_topic(c.info(), c.topic)
            except BaseException:
                c.close()
                raise
        return c

    @classmethod
    def from_endpoint_file(cls, path: str, wait: float = 30.0, curve: Optional[Curve] = None,
                           **kw: Any) -> "Client":
        """Bind topology, endpoints read from the file kfarm --endpoint-file wrote (waiting up to
        `wait` seconds for it). A KFARM_CURVE_SERVER_KEY line there gives CURVE's server key
        when `curve` has none."""
        ep: Endpoints = read_endpoint_file(path, wait)
        if curve is not None and curve.server_key is None and ep.server_key is not None:
            curve.server_key = ep.server_key
        return cls.connect(ep.endpoint, ep.broadcast_endpoint, curve=curve, **kw)

    # ---- futures ----
    def _new_id(self) -> str:
        with self._id_lock:
            return str(next(self._ids))

    def submit(self, kind: Any, data: Any = None, raw: bool = False,
               decode: bool = False) -> RequestFuture:
        """Sends one request now and returns its Future (concurrent.futures): result() is the reply
        payload (bytes; JSON-decoded with decode=True), or raises RequestError for an error
        reply. `kind` may also be a Message. Wait for several with as_completed()."""
        if self._closed:
            raise KfarmError("the client is closed")
        m = kind if isinstance(kind, Message) else Message(kind, data, raw)
        fut = RequestFuture(self._new_id(), m.kind, decode)
        self._io.send_requests([(fut, None, fut.id, m.kind, m.payload())])
        return fut

    # ---- blocking calls ----
    def compute(self, messages: Sequence[Any], timeout_ms: Optional[int] = None,
                decode: bool = False) -> List[Any]:
        """Sends every message (at most `window` outstanding) and returns the reply payloads in
        request order (bytes; JSON-decoded with decode=True, an empty payload as None). Raises
        Timeout when no reply comes (or no gateway takes a request) for timeout_ms, RequestError
        when any request failed (after the batch completes, so no stale reply is left behind)."""
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        if self._closed:
            raise KfarmError("the client is closed")
        msgs = [as_message(m) for m in messages]
        n = len(msgs)
        batch = Batch(n, decode)  # one object for the call, not a Future per request
        ids: List[str] = []
        done = 0
        while done < n:
            room = min(self.window - (len(ids) - done), n - len(ids))
            if room > 0:  # top up the window, in one hand-over to the I/O thread
                items = []
                for i in range(len(ids), len(ids) + room):
                    ids.append(self._new_id())
                    items.append((batch, i, ids[i], msgs[i].kind, msgs[i].payload()))
                self._io.send_requests(items)
            with batch.cond:
                if not batch.cond.wait_for(lambda: batch.done > done, timeout_ms / 1000.0):
                    batch.abandoned = True
                    self._raise_timeout(batch, ids, n, timeout_ms)
                done = batch.done
        if batch.failed:
            errors = [(i, ids[i], msgs[i].kind, batch.failed[i]) for i in sorted(batch.failed)]
            raise RequestError(errors, batch.results)
        return batch.results

    def _raise_timeout(self, batch: Batch, ids: List[str], n: int, timeout_ms: int) -> None:
        waiting = [i for i in range(len(ids)) if not batch.answered[i]]
        self._io.forget([ids[i] for i in waiting])
        sent = [i for i in waiting if batch.sent[i]]
        unsent = [i for i in waiting if not batch.sent[i]] + list(range(len(ids), n))
        raise Timeout(timeout_ms, [ids[i] for i in sent] + ["(unsent #%d)" % i for i in unsent],
                      sent + unsent)

    def request(self, kind: str, data: Any, timeout_ms: Optional[int] = None,
                raw: bool = False, decode: bool = False) -> Any:
        """One request; returns its reply payload (bytes, or decoded with decode=True)."""
        return self.compute([Message(kind, data, raw)], timeout_ms, decode)[0]

    def broadcast(self, message: Message, ordered: bool = False,
                  timeout_ms: Optional[int] = None) -> None:
        """Fire-and-forget on the PUB socket, as EvKit does: [topic + kind, payload]. With
        ordered=True it goes on the request socket as $broadcast:<topic+kind> instead, and returns
        once the gateway has queued it to every worker, so every later request sees it."""
        if not ordered:
            if not self._has_pub:
                raise KfarmError("no broadcast socket: give broadcast_port / broadcast_endpoint, "
                                 "or use broadcast(..., ordered=True)")
            self._io.publish([(self.topic + message.kind).encode(), message.payload()])
            return
        kind = "$broadcast:" + self.topic + message.kind
        self.compute([Message(kind, message.payload(), raw=True)], timeout_ms)

    def stats(self, timeout_ms: Optional[int] = None) -> dict:
        """The gateway's $stats document (per rank and per client counters) as a dict."""
        return self.compute([Message("$stats", b"", raw=True)], timeout_ms, decode=True)[0]

    def info(self, timeout_ms: Optional[int] = None) -> Optional[dict]:
        """The gateway's $info (protocol version, kinds, topic, workers), or None from a gateway
        that does not know $info yet."""
        try:
            return self.compute([Message("$info", b"", raw=True)], timeout_ms, decode=True)[0]
        except RequestError as e:
            if "unknown gateway command" in e.message:
                return None
            raise

    def close(self) -> None:
        """Closes the sockets (the shared ZeroMQ context stays). Requests in flight are dropped."""
        if not self._closed:
            self._closed = True
            self._io.stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter exit the I/O thread (a daemon) may be frozen: joining it would hang.
        if sys.is_finalizing():
            return
        try:
            self.close()
        except Exception:
            pass
