"""The asyncio client, on zmq.asyncio: the same calls as the blocking Client, awaited.

    import asyncio, kfarm.aio
    async def main():
        async with await kfarm.aio.Client.from_endpoint_file("endpoints") as c:
            replies = await c.compute([kfarm.Message("echo", i) for i in range(100)])
            futs = [c.submit("echo", i) for i in range(100)]     # asyncio Futures
            for f in asyncio.as_completed(futs):
                print(await f)
    asyncio.run(main())

One task reads the replies and resolves each request's Future; the sockets are used from the
event loop's thread only.
"""
import asyncio
import itertools
from typing import Any, Dict, List, Optional, Sequence, Set

import zmq
import zmq.asyncio

from ._io import decode_payload, parse_reply
from .client import TOPIC, check_topic
from .endpoints import Curve, read_endpoint_file
from .errors import KfarmError, RequestError, Timeout
from .message import Message, as_message

__all__ = ["Client"]


class Client:
    """Like kfarm.Client (same arguments), for asyncio code. Construct it inside a running event
    loop; close it with `await client.close()` or `async with`."""

    def __init__(self, port: Optional[int] = None, broadcast_port: Optional[int] = None,
                 host: str = "*", window: int = 64, timeout_ms: int = 30000, topic: str = TOPIC,
                 curve: Optional[Curve] = None, _endpoints: Any = None) -> None:
        # The process's one ZeroMQ context, seen through zmq.asyncio.
        self.context = zmq.asyncio.Context.shadow(zmq.Context.instance().underlying)
        self.window = window
        self.timeout_ms = timeout_ms
        self.topic = topic
        self._ids = itertools.count()
        self._pending: Dict[str, "asyncio.Future[Any]"] = {}
        binds = _endpoints is None
        if binds and port is None:
            raise KfarmError("Client(port, broadcast_port) binds (EvKit topology); to reach a "
                             "gateway that binds, use Client.connect or Client.from_endpoint_file")
        self.socket = self._socket(zmq.DEALER, curve, binds)
        self.broadcast_socket: Optional[zmq.asyncio.Socket] = None
        try:
            if binds:
                self.socket.bind("tcp://%s:%d" % (host, port))
                if broadcast_port is not None:
                    self.broadcast_socket = self._socket(zmq.PUB, curve, binds)
                    self.broadcast_socket.bind("tcp://%s:%d" % (host, broadcast_port))
            else:
                endpoint, broadcast_endpoint = _endpoints
                self.socket.connect(endpoint)
                if broadcast_endpoint:
                    self.broadcast_socket = self._socket(zmq.PUB, curve, binds)
                    self.broadcast_socket.connect(broadcast_endpoint)
        except zmq.ZMQError as e:
            self._close_sockets()
            raise KfarmError("cannot set up the client's sockets: %s" % e) from None
        self._reader = asyncio.get_running_loop().create_task(self._read_replies())

    def _socket(self, kind: int, curve: Optional[Curve], binds: bool) -> zmq.asyncio.Socket:
        s = self.context.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(s, binds)
        return s

    @classmethod
    async def create(cls, *args: Any, settle: float = 1.0, **kw: Any) -> "Client":
        """EvKit topology: binds, then waits `settle` seconds for gateways to subscribe."""
        c = cls(*args, **kw)
        if settle:
            await asyncio.sleep(settle)
        return c

    @classmethod
    async def connect(cls, endpoint: str, broadcast_endpoint: Optional[str] = None,
                      check: bool = True, settle: Optional[float] = None,
                      **kw: Any) -> "Client":
        """Bind topology: connects to a gateway started with kfarm --bind; with check=True
        refuses a topic mismatch reported by the gateway's $info."""
        c = cls(_endpoints=(endpoint, broadcast_endpoint), **kw)
        settle = (0.3 if broadcast_endpoint else 0) if settle is None else settle
        try:
            if settle:
                await asyncio.sleep(settle)
            if check:
                check_topic(await c.info(), c.topic)
        except BaseException:
            await c.close()
            raise
        return c

    @classmethod
    async def from_endpoint_file(cls, path: str, wait: float = 30.0,
                                 curve: Optional[Curve] = None, **kw: Any) -> "Client":
        """Bind topology, endpoints (and KFARM_CURVE_SERVER_KEY) from kfarm's endpoint file."""
        loop = asyncio.get_running_loop()
        ep = await loop.run_in_executor(None, read_endpoint_file, path, wait)
        if curve is not None and curve.server_key is None and ep.server_key is not None:
            curve.server_key = ep.server_key
        return await cls.connect(ep.endpoint, ep.broadcast_endpoint, curve=curve, **kw)

    async def _read_replies(self) -> None:
        while True:
            frames = await self.socket.recv_multipart()
            rid, ok, data = parse_reply(frames)
            fut = self._pending.pop(rid, None)
            if fut is None or fut.done():
                continue  # the reply of a request its caller gave up on
            if ok:
                try:
                    fut.set_result(decode_payload(data, getattr(fut, "kfarm_decode")))  # type: ignore[arg-type]
                except ValueError as e:
                    fut.set_exception(RequestError([(0, rid, fut.kfarm_kind,  # type: ignore[attr-defined]
                                                     "reply is not JSON: %s" % e)], [None]))
            else:
                fut.set_exception(RequestError([(0, rid, fut.kfarm_kind,  # type: ignore[attr-defined]
                                                 str(data))], [None]))

    def submit(self, kind: Any, data: Any = None, raw: bool = False,
               decode: bool = False) -> "asyncio.Future[Any]":
        """Sends one request and returns an asyncio Future of its reply (bytes, or decoded with
        decode=True; RequestError for an error reply). Its `kfarm_id` attribute is the request
        id. Wait for several with asyncio.as_completed or asyncio.gather."""
        m = kind if isinstance(kind, Message) else Message(kind, data, raw)
        rid = str(next(self._ids))
        fut = asyncio.get_running_loop().create_future()
        fut.kfarm_id, fut.kfarm_kind, fut.kfarm_decode = rid, m.kind, decode  # type: ignore[attr-defined]
        self._pending[rid] = fut
        # zmq.asyncio queues the send when the DEALER cannot take it yet (no gateway).
        self.socket.send_multipart([rid.encode(), m.kind.encode(), m.payload()])
        return fut

    def _forget(self, futs: Sequence["asyncio.Future[Any]"]) -> None:
        for f in futs:
            self._pending.pop(f.kfarm_id, None)  # type: ignore[attr-defined]
            f.cancel()

    async def compute(self, messages: Sequence[Any], timeout_ms: Optional[int] = None,
                      decode: bool = False) -> List[Any]:
        """As Client.compute: replies in request order; Timeout when no reply comes for
        timeout_ms; RequestError naming the first failed request once the batch is back."""
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        msgs = [as_message(m) for m in messages]
        n = len(msgs)
        futs: List["asyncio.Future[Any]"] = []
        inflight: Set["asyncio.Future[Any]"] = set()
        while len(futs) < n or inflight:
            while len(futs) < n and len(inflight) < self.window:
                f = self.submit(msgs[len(futs)], decode=decode)
                futs.append(f)
                inflight.add(f)
            done, inflight = await asyncio.wait(inflight, timeout=timeout_ms / 1000.0,
                                                return_when=asyncio.FIRST_COMPLETED)
            if not done:
                self._forget(list(inflight))
                missing = sorted(inflight, key=futs.index)
                unsent = list(range(len(futs), n))
                raise Timeout(timeout_ms, [f.kfarm_id for f in missing] +  # type: ignore[attr-defined]
                              ["(unsent #%d)" % i for i in unsent],
                              [futs.index(f) for f in missing] + unsent)
        results: List[Any] = []
        errors = []
        for i, f in enumerate(futs):
            e = f.exception()
            results.append(None if e else f.result())
            if e is not None:
                msg = e.message if isinstance(e, RequestError) else str(e)
                errors.append((i, f.kfarm_id, f.kfarm_kind, msg))  # type: ignore[attr-defined]
        if errors:
            raise RequestError(errors, results)
        return results

    async def request(self, kind: str, data: Any, timeout_ms: Optional[int] = None,
                      raw: bool = False, decode: bool = False) -> Any:
        return (await self.compute([Message(kind, data, raw)], timeout_ms, decode))[0]

    async def broadcast(self, message: Message, ordered: bool = False,
                        timeout_ms: Optional[int] = None) -> None:
        """As Client.broadcast: PUB, or with ordered=True $broadcast: on the request socket,
        returning once every worker has it queued."""
        if not ordered:
            if self.broadcast_socket is None:
                raise KfarmError("no broadcast socket: give broadcast_port / broadcast_endpoint, "
                                 "or use broadcast(..., ordered=True)")
            await self.broadcast_socket.send_multipart([(self.topic + message.kind).encode(),
                                                        message.payload()])
            return
        await self.compute([Message("$broadcast:" + self.topic + message.kind,
                                    message.payload(), raw=True)], timeout_ms)

    async def stats(self, timeout_ms: Optional[int] = None) -> dict:
        return (await self.compute([Message("$stats", b"", raw=True)], timeout_ms,
                                   decode=True))[0]

    async def info(self, timeout_ms: Optional[int] = None) -> Optional[dict]:
        """$info, or None from a gateway that does not know it yet."""
        try:
            return (await self.compute([Message("$info", b"", raw=True)], timeout_ms,
                                       decode=True))[0]
        except RequestError as e:
            if "unknown gateway command" in e.message:
                return None
            raise

    def _close_sockets(self) -> None:
        for s in (self.socket, self.broadcast_socket):
            if s is not None:
                s.close(linger=0)

    async def close(self) -> None:
        self._reader.cancel()
        try:
            await self._reader
        except (asyncio.CancelledError, Exception):
            pass
        self._forget(list(self._pending.values()))
        self._close_sockets()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


