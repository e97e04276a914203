"""An adapter .so built by the tests is loaded by path next to a built-in one, with arguments; an
adapter built for ABI version 1 (against the kept version 1 header) is served unchanged."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, Job, check, client  # noqa: E402

so = os.path.join(BUILD, "tests", "mpi_worker", "adapters", "reverse.so")
v1 = os.path.join(BUILD, "tests", "mpi_worker", "adapters", "reverse_v1.so")
with Job(3, ["--adapter", "echo", "--adapter", so, "--adapter-arg", "prefix=>",
             "--adapter", v1, "--adapter-arg", "prefix=<"]) as job:
    _, out, _ = client("--connect", job.endpoint, "--kind", "reverse", "--data", "abc", "-n", "4",
                       "--print", "--quiet")
    check(out.splitlines() and all(l.endswith(" ok >cba") for l in out.splitlines()),
          "reverse replies: %r" % out)
    _, out, _ = client("--connect", job.endpoint, "--kind", "echo", "--data", "abc", "--print",
                       "--quiet")
    check(out.strip() == "0 ok abc", "echo reply: %r" % out)
    for kind in ("reverse-v1", "reverse-v1-again"):
        _, out, _ = client("--connect", job.endpoint, "--kind", kind, "--data", "abc", "-n", "4",
                           "--print", "--quiet")
        check(out.splitlines() and all(l.endswith(" ok <cba") for l in out.splitlines()),
              "%s replies (ABI version 1 adapter): %r" % (kind, out))
print("ok: external adapter loaded by path")
