"""Unknown options, bad values, unreachable or unresolvable endpoints, a port in use, a missing
adapter and a single rank: one clear message and a non-zero exit, nothing left running."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import KFARM, check, kfarm_processes  # noqa: E402


def run(ntasks, *args):
    p = subprocess.run(["srun", "--mpi=pmix", "-n", str(ntasks), KFARM] + list(args),
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def expect(needle, ntasks, *args, once=False):
    rc, out = run(ntasks, *args)
    check(rc != 0, "kfarm %s exited 0:\n%s" % (" ".join(args), out))
    check(needle in out, "kfarm %s: message does not say %r:\n%s" % (" ".join(args), needle, out))
    if once:
        check(out.count(needle) == 1, "the message was printed by every rank:\n" + out)


closed = socket.socket()
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]  # bound, never listening: connections are refused
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen()
busy_port = busy.getsockname()[1]

expect("unknown option --frobnicate", 2, "--frobnicate", once=True)
expect("--max-inflight abc", 2, "--bind", "tcp://*:0", "--max-inflight", "abc", once=True)
expect("no client endpoint", 2, "--adapter", "echo", once=True)
expect("nothing accepts connections", 2, "--connect", "tcp://127.0.0.1:%d" % closed_port,
       "--connect-timeout", "1")
expect("cannot resolve", 2, "--connect", "tcp://no-such-host.invalid:5555")
expect("cannot bind", 2, "--bind", "tcp://127.0.0.1:%d" % busy_port)
expect("no such built-in adapter", 3, "--bind", "tcp://127.0.0.1:0", "--adapter", "nosuch")
expect("at least 2 ranks", 1, "--bind", "tcp://127.0.0.1:0")
rc, out = run(2, "--help")
check(rc == 0 and "--broadcast-connect" in out and out.count("Usage:") == 1, "--help:\n" + out)
rc, out = run(1, "--version")
check(rc == 0 and out.startswith("kfarm "), "--version:\n" + out)
check(not kfarm_processes(), "kfarm ranks left running: %r" % kfarm_processes())
print("ok: bad options and endpoints fail at start with a clear message")
