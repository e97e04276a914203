"""The blocking client's I/O thread: it alone touches the client's ZeroMQ sockets (they are not
thread-safe), sends what callers queue, and resolves each request's Future from its reply. It
sleeps in zmq_poll until there is something to do, so an idle client costs no CPU."""
import collections
import itertools
import json
import threading
from concurrent.futures import Future
from typing import Any, Deque, Dict, List, Optional, Tuple

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

    # The I/O thread's side (the same three calls as Batch's, with key None).
    def mark_sent(self, key: object) -> None:
        self.sent = True

    def dropped(self, key: object) -> bool:
        return self.cancelled()

    def resolve(self, key: object, rid: str, ok: bool, data: object) -> None:
        if not self.set_running_or_notify_cancel():
            return  # its caller gave up on it
        if ok:
            try:
                self.set_result(decode_payload(data, self.decode))  # type: ignore[arg-type]
            except ValueError as e:
                self.set_exception(RequestError([(0, rid, self.kind, "reply is not JSON: %s"
                                                  % e)], [None]))
        else:
            self.set_exception(RequestError([(0, rid, self.kind, str(data))], [None]))


class Batch:
    """The requests of one compute() call: cheaper than a Future per request. The I/O thread
    fills in replies; the caller waits on `cond` for `done` to grow."""

    def __init__(self, n: int, decode: bool) -> None:
        self.cond = threading.Condition()
        self.results: List[object] = [None] * n
        self.failed: Dict[int, str] = {}  # index -> error message
        self.sent = [False] * n
        self.answered = [False] * n
        self.done = 0
        self.abandoned = False
        self.decode = decode

    def mark_sent(self, key: object) -> None:
        self.sent[key] = True  # type: ignore[index]

    def dropped(self, key: object) -> bool:
        return self.abandoned

    def resolve(self, key: object, rid: str, ok: bool, data: object) -> None:
        i: int = key  # type: ignore[assignment]
        with self.cond:
            if self.abandoned:
                return
            if ok:
                try:
                    self.results[i] = decode_payload(data, self.decode)  # type: ignore[arg-type]
                except ValueError as e:
                    self.failed[i] = "reply is not JSON: %s" % e
            else:
                self.failed[i] = str(data)
            self.answered[i] = True
            self.done += 1
            self.cond.notify()


def parse_reply(frames: List[bytes]) -> Tuple[str, bool, object]:
    """(id, ok, payload-or-error-message) of a reply [id, "ok", payload] or [id, message]."""
    rid = frames[0].decode(errors="replace")
    if len(frames) == 3 and frames[1] == b"ok":
        return rid, True, frames[2]
    if len(frames) == 2:
        return rid, False, frames[1].decode(errors="replace")
    return rid, False, "reply of unexpected shape (%d frames)" % len(frames)


def decode_payload(data: bytes, decode: bool) -> object:
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
        # queue: ("req", (handler, key, frames)) or ("pub", frames), taken by the I/O thread
        self.queue: Deque[Tuple[str, object]] = collections.deque()
        self.pending: Dict[str, Tuple[Any, object]] = {}  # id -> (handler, key)
        self.outbox: Deque[Tuple[Any, object, List[bytes]]] = collections.deque()
        self.stopping = False

    # ---- called from any thread ----
    def send_requests(self, items: List[Tuple[Any, object, str, str, bytes]]) -> None:
        """Queues requests (handler, key, id, kind, payload); the handler gets the reply."""
        with self.lock:
            was_empty = not self.queue
            for handler, key, rid, kind, payload in items:
                self.pending[rid] = (handler, key)
                self.queue.append(("req", (handler, key, [rid.encode(), kind.encode(), payload])))
            if was_empty:  # else a wake-up is on its way and the thread takes the whole queue
                self._wake()

    def publish(self, frames: List[bytes]) -> None:
        with self.lock:
            was_empty = not self.queue
            self.queue.append(("pub", frames))
            if was_empty:
                self._wake()

    def forget(self, ids: List[str]) -> None:
        """Drops requests a caller gave up on: a late reply is then ignored (and a request not
        sent yet is never sent, as its handler says dropped)."""
        with self.lock:
            for rid in ids:
                self.pending.pop(rid, None)

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
                for handler, _ in self.pending.values():
                    if isinstance(handler, RequestFuture):
                        handler.cancel()

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
            handler, key, frames = self.outbox[0]
            if handler.dropped(key):
                self.outbox.popleft()
                continue
            try:
                self.req.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                return
            handler.mark_sent(key)
            self.outbox.popleft()

    def _receive(self) -> None:
        while True:
            try:
                frames = self.req.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            rid, ok, data = parse_reply(frames)
            with self.lock:
                target = self.pending.pop(rid, None)
            if target is not None:  # else the reply of a request its caller gave up on
                target[0].resolve(target[1], rid, ok, data)
