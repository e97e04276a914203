"""A client that behaves like existing EvKit clients (the traffic simulator's zeromq client):
it binds a DEALER and a PUB, sleeps 1 s for workers to connect and subscribe, sends requests
[id, kind, payload] with ids 0..n-1 as ASCII decimal (restarting at 0 for every batch), pipelines
them with poll, accepts only 3-frame "ok" replies, and broadcasts [topic+kind, payload].
"""
import json
import time

import zmq

TOPIC = "traffic-sim:"


class Message:
    def __init__(self, kind, data):
        self.kind = kind
        self.data = data


class EvKitError(Exception):
    pass


class Client:
    def __init__(self, port, broadcast_port, window=64, host="127.0.0.1"):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://%s:%d" % (host, port))
        self.broadcast_socket = self.context.socket(zmq.PUB)
        self.broadcast_socket.setsockopt(zmq.LINGER, 0)
        self.broadcast_socket.bind("tcp://%s:%d" % (host, broadcast_port))
        self.window = window
        time.sleep(1)  # what EvKit clients do: give workers time to connect and subscribe

    def compute(self, messages, timeout_ms=30000):
        """Sends every message, ids 0..n-1, at most `window` outstanding; returns the decoded
        replies in request order. Raises EvKitError on anything but a 3-frame ok reply."""
        results = [None] * len(messages)
        pending = set()
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        sent = 0
        while sent < len(messages) or pending:
            while sent < len(messages) and len(pending) < self.window:
                m = messages[sent]
                self.socket.send_multipart([str(sent).encode(), m.kind.encode(),
                                            json.dumps(m.data).encode()])
                pending.add(sent)
                sent += 1
            if not poller.poll(timeout_ms):
                raise EvKitError("no reply within %d ms; %d pending" % (timeout_ms, len(pending)))
            frames = self.socket.recv_multipart()
            if len(frames) != 3 or frames[1] != b"ok":
                raise EvKitError("error reply: %r" % (frames,))
            i = int(frames[0].decode())
            if i not in pending:
                raise EvKitError("reply for unknown or already answered id %d" % i)
            pending.remove(i)
            results[i] = frames[2]
        return results

    def broadcast(self, message):
        self.broadcast_socket.send_multipart([(TOPIC + message.kind).encode(),
                                              json.dumps(message.data).encode()])

    def close(self):
        self.socket.close()
        self.broadcast_socket.close()
        self.context.term()
