"""The blocking client's I/O thread: it alone touches the client's ZeroMQ sockets (they are not
thread-safe), sends what callers queue, and resolves each request's Future from its reply. It
sleeps in zmq_poll until there is something to do, so an idle client costs no CPU."""
import collections
import itertools
import threading
from concurrent.futures import Future
from typing import Deque, Dict, List, Optional, Tuple

import zmq

from .errors import RequestError

_pipe_ids = itertools.count()


class RequestFuture(Future):  # type: ignore[type-arg]
    """A concurrent.futures.Future for one request; `id` is its request id, `kind` its kind,
    `sent` whether a gateway took it (False while the DEALER has nowhere to send)."""

    def __init__(self, rid: str, kind: str, decode: bool) -> None:
        super().__init__()
        self.id = rid
        self.kind = kind
        self.decode = decode
        self.sent = False


def parse_reply(frames: List[bytes]) -> Tuple[str, bool, object]:
    """(id, ok, payload-or-error-message) of a reply [id, "ok", payload] or [id, message]."""
    rid = frames[0].decode(errors="replace")
    if len(frames) == 3 and frames[1] == b"ok":
        return rid, True, frames[2]
    if len(frames) == 2:
        return rid, False, frames[1].decode(errors="replace")
    return rid, False, "reply of unexpected shape (%d frames)" % len(frames)


def decode_payload(data: bytes, decode: bool) -> object:
    import json
    if not decode:
        return data
    return json.loads(data) if data else None


class IOThread(threading.Thread):
    def __init__(self, ctx: zmq.Context, req: zmq.Socket, pub: Optional[zmq.Socket]) -> None:
        super().__init__(name="kfarm-client-io", daemon=True)
        self.req = req
        self.pub = pub
        addr = "inproc://kfarm-client-%d" % next(_pipe_ids)
        self.wake_rx = ctx.socket(zmq.PAIR)
        self.wake_rx.bind(addr)
        self.wake_tx = ctx.socket(zmq.PAIR)
        self.wake_tx.connect(addr)
        self.lock = threading.Lock()  # guards queue, pending and wake_tx
        self.queue: Deque[Tuple[str, object]] = collections.deque()
        self.pending: Dict[str, RequestFuture] = {}
        self.outbox: Deque[Tuple[RequestFuture, List[bytes]]] = collections.deque()
        self.stopping = False

    # ---- called from any thread ----
    def send_request(self, fut: RequestFuture, kind: str, payload: bytes) -> None:
        with self.lock:
            self.pending[fut.id] = fut
            self.queue.append(("req", (fut, [fut.id.encode(), kind.encode(), payload])))
            self._wake()

    def publish(self, frames: List[bytes]) -> None:
        with self.lock:
            self.queue.append(("pub", frames))
            self._wake()

    def forget(self, futs: List[RequestFuture]) -> None:
        """Drops requests a caller gave up on: a late reply is then ignored, and one not sent yet
        is never sent."""
        with self.lock:
            for f in futs:
                self.pending.pop(f.id, None)
                f.cancel()

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self._wake()
        self.join()

    def _wake(self) -> None:
        try:
            self.wake_tx.send(b"", zmq.NOBLOCK)
        except zmq.Again:
            pass  # the pipe is full of wake-ups already: the thread will look at the queue

    # ---- the I/O thread ----
    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.wake_rx, zmq.POLLIN)
        try:
            while True:
                poller.register(self.req, zmq.POLLIN | (zmq.POLLOUT if self.outbox else 0))
                events = dict(poller.poll())
                if self.wake_rx in events and self._take_queue():
                    return
                if events.get(self.req, 0) & zmq.POLLIN:
                    self._receive()
                self._flush()
        finally:
            for s in (self.req, self.pub, self.wake_rx):
                if s is not None:
                    s.close(linger=0)
            with self.lock:
                self.wake_tx.close(linger=0)
                for f in self.pending.values():
                    f.cancel()

    def _take_queue(self) -> bool:
        """Moves queued work to the sockets; True when the client is closing."""
        while True:
            try:
                self.wake_rx.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        with self.lock:
            work = list(self.queue)
            self.queue.clear()
            stopping = self.stopping
        for what, item in work:
            if what == "req":
                self.outbox.append(item)  # type: ignore[arg-type]
            elif self.pub is not None:
                self.pub.send_multipart(item)  # type: ignore[arg-type]
        return stopping

    def _flush(self) -> None:
        # A DEALER with no gateway connected would block: send only what it takes now.
        while self.outbox:
            fut, frames = self.outbox[0]
            if fut.cancelled():
                self.outbox.popleft()
                continue
            try:
                self.req.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                return
            fut.sent = True
            self.outbox.popleft()

    def _receive(self) -> None:
        while True:
            try:
                frames = self.req.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            rid, ok, data = parse_reply(frames)
            with self.lock:
                fut = self.pending.pop(rid, None)
            if fut is None or not fut.set_running_or_notify_cancel():
                continue  # the reply of a request its caller gave up on
            if ok:
                try:
                    fut.set_result(decode_payload(data, fut.decode))  # type: ignore[arg-type]
                except ValueError as e:
                    fut.set_exception(RequestError([(0, rid, fut.kind, "reply is not JSON: %s"
                                                     % e)], [None]))
            else:
                fut.set_exception(RequestError([(0, rid, fut.kind, str(data))], [None]))
