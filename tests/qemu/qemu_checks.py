"""What every device_pause test in tests/qemu shares: the patched QEMU (qemu/build), and checks
that record a failure and go on, so one run reports every broken case; report() gives the exit.
"""
import os
import subprocess

from qmp import QMPError

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("KFARM_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))

# What failed, in order; the tests also add the exception that ended them early.
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def expect_error(fn, want_cls, want_text, what):
    """fn() must raise QMPError of class WANT_CLS whose text contains WANT_TEXT."""
    try:
        r = fn()
    except QMPError as e:
        check(e.cls == want_cls and want_text in (e.desc or ""),
              "%s -> %s: %s" % (what, e.cls, e.desc))
        return
    check(False, "%s succeeded (%r), expected %s containing %r" % (what, r, want_cls, want_text))


def patched_qemu():
    """qemu-system-x86_64 with the device_pause series (built once, then cached by qemu/build)."""
    out = subprocess.run([os.path.join(SOURCE, "qemu", "build")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return out[-1]


def report():
    """Prints the verdict; returns the exit status (1 when any check failed)."""
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


def local_functions(binary, names):
    """Which of NAMES are functions in BINARY's symbol table (`nm`), as a set. A static function
    that nothing references is dropped by the compiler, so a hook that is only reachable through
    a class's function pointer is in the table exactly when that pointer is set. Raises when the
    binary has no symbol table (stripped): then nothing can be told."""
    out = subprocess.run(["nm", binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    if "no symbols" in out:
        raise RuntimeError("%s is stripped: nm cannot tell whether the pause hooks are in it "
                           "(qemu/build installs it unstripped)" % binary)
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT" and parts[2] in names:
            found.add(parts[2])
    return found
