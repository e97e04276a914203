"""The SDK works from an installed tree: `cmake --install` into a temporary prefix, the example
adapter (examples/adapters, as installed) built out of tree with its Makefile and with its CMake
project through `pkg-config kfarm-adapter`, and both builds served through a real job, with the
CPU and the OpenCL (PoCL) variant giving the right answer."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, Job, check, client, workers  # noqa: E402

tmp = tempfile.mkdtemp(prefix="kfarm-sdk-")
prefix = os.path.join(tmp, "prefix")


def run(*cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    check(p.returncode == 0, "%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                      p.stderr))
    return p.stdout


for tool in ("make", "cc", "cmake", "pkg-config"):
    check(shutil.which(tool), "%s is missing: apt-get install -y build-essential cmake pkg-config"
          % tool)
run("cmake", "--install", BUILD, "--prefix", prefix)
pcdirs = [os.path.join(root) for root, _, files in os.walk(prefix) if "kfarm-adapter.pc" in files]
check(len(pcdirs) == 1, "kfarm-adapter.pc installed once, found in %s" % pcdirs)
for header in ("adapter.h", "client.h"):
    check(os.path.exists(os.path.join(prefix, "include", "kfarm", header)),
          "include/kfarm/%s not installed" % header)
example = [root for root, _, files in os.walk(prefix) if "primes.c" in files]
check(len(example) == 1, "the example installed once, found in %s" % example)
env = dict(os.environ, PKG_CONFIG_PATH=pcdirs[0])

src = os.path.join(tmp, "src")
shutil.copytree(example[0], src)  # a user's copy, outside kfarm's tree
run("make", "-C", src, env=env)
made = os.path.join(src, "primes.so")
build = os.path.join(tmp, "build")
run("cmake", "-S", src, "-B", build, env=env)
run("cmake", "--build", build, env=env)
cmade = os.path.join(build, "primes.so")

# pi(10^5) = 9592, pi(2) = 1; a bad payload is an error reply.
for so, variant in ((made, "cpu"), (cmade, "accel"), (made, "auto")):
    with Job(2, ["--adapter", so, "--variant", variant]) as job:
        _, out, _ = client("--connect", job.endpoint, "--kind", "primes", "--data", "100000",
                           "-n", "3", "--print", "--quiet")
        check(out.splitlines() and all(l.endswith(" ok 9592") for l in out.splitlines()),
              "%s --variant %s: %r" % (so, variant, out))
        if variant == "accel":  # the OpenCL variant ran, not a fallback to the CPU
            w = workers(job.endpoint)
            check(all(x["variant"] == "accel" for x in w), "--variant accel ran: %s" % w)
        _, out, _ = client("--connect", job.endpoint, "--kind", "primes", "--data", "x1",
                           "--print", "--quiet", check_status=False)
        check("not a number" in out, "bad payload: %r" % out)
        job.stop()
    print("ok: %s served with --variant %s" % (os.path.relpath(so, tmp), variant))
