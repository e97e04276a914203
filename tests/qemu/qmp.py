"""Minimal QMP client for kfarm's qemu tests and benchmark (standard library only).

Keeps one connection, records asynchronous events, and waits for them with a bound.
"""
import json
import os
import select
import socket
import time


class QMPError(Exception):
    """A QMP command answered with an error; .cls and .desc hold QEMU's error class and text."""

    def __init__(self, cmd, err):
        self.cls = err.get("class")
        self.desc = err.get("desc")
        super().__init__("%s: %s: %s" % (cmd, self.cls, self.desc))


class QMP:
    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise TimeoutError("no QMP socket at %s after %.0f s" % (path, timeout))
                time.sleep(0.05)
        # Blocking reads (QEMU always answers a command); events are waited for with select().
        self.sock.settimeout(None)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError("not a QMP greeting: %r" % greeting)
        self.cmd("qmp_capabilities")

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()

    def _read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("QMP connection closed")
        return json.loads(line)

    def _reply(self):
        while True:
            msg = self._read()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def raw(self, cmd, **args):
        """Send a command, return the whole reply (either 'return' or 'error')."""
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        self.file.write(json.dumps(req).encode() + b"\n")
        return self._reply()

    def cmd(self, cmd, **args):
        """Send a command, return its 'return' value or raise QMPError."""
        r = self.raw(cmd, **args)
        if "error" in r:
            raise QMPError(cmd, r["error"])
        return r["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})

    def wait_event(self, name, timeout=30.0, **data):
        """Return (and consume) the first event NAME whose data has the given items."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                d = ev.get("data", {})
                if ev["event"] == name and all(d.get(k) == v for k, v in data.items()):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no %s event %r within %.0f s" % (name, data, timeout))
            if select.select([self.sock], [], [], left)[0]:
                self.events.append(self._read())


def wait_for_line(path, text, timeout, proc=None):
    """Wait until file PATH has a line containing TEXT; fail early if PROC ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                if any(text.encode() in l for l in f.read().splitlines()):
                    return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("guest ended (exit %d) before printing %r" % (proc.returncode, text))
        time.sleep(0.05)
    raise TimeoutError("%r not on the console within %.0f s" % (text, timeout))


def _session_pids(sid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after the command: state ppid pgrp session ...
            pids.append(int(d))
    return pids


def stop_session(proc, timeout=10.0):
    """Stop PROC, started with start_new_session=True, and everything in its session.

    The guest harness runs QEMU under timeout(1), which moves it to a process group of its own,
    so killing the harness's group would leave QEMU running; the session holds them all.
    """
    import signal
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _session_pids(proc.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _session_pids(proc.pid):
                return
            time.sleep(0.05)
    proc.wait()
