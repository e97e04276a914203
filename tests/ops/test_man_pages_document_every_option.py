"""Each man page in docs/man documents every long option its program's --help prints (for
spank_kfarm, the options of its documented list: docs/spank.md or the plugin's option table), and
renders without groff warnings; each program's page has an EXIT STATUS section."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import BUILD, SOURCE, check  # noqa: E402

MAN = os.path.join(SOURCE, "docs", "man")


def help_options(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    text = p.stdout + p.stderr
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    check(len(opts) >= 3, "%s printed too few options to be its help:\n%s" % (cmd, text))
    return opts


def man_text(page):
    with open(os.path.join(MAN, page)) as f:
        src = f.read()
    src = src.replace("\\-", "-")
    return re.sub(r"\\f[BIRP]", "", src)


def spank_options():
    """The plugin's user options and plugstack arguments from its documentation or source."""
    opts = set()
    doc = os.path.join(SOURCE, "docs", "spank.md")
    if os.path.exists(doc):
        with open(doc) as f:
            for line in f:
                m = re.match(r"\|\s*`(--[a-z-]+|[a-z_]+=)", line)
                if m:
                    opts.add(m.group(1).rstrip("="))
    src = os.path.join(SOURCE, "src", "spank", "args.c")
    if os.path.exists(src):
        with open(src) as f:
            opts |= {"--" + o for o in re.findall(r'\{"(fpga-[a-z-]+)"', f.read())}
    # The design's options are always there, whether or not the plugin has landed in this tree.
    return opts | {"--fpga-vfs", "--fpga-bitstream", "--fpga-fallback"}


pages = {
    "kfarm.1": help_options([os.path.join(BUILD, "src", "kfarm", "kfarm"), "--help"]),
    "kfarm-client.1": help_options([os.path.join(BUILD, "src", "client", "kfarm-client"), "--help"]),
    "esfm.8": help_options([os.path.join(BUILD, "src", "esfm", "esfm"), "--help"]),
    "kfarm-learner.1": help_options([os.path.join(BUILD, "src", "tuner", "kfarm-learner"), "--help"]),
    "kfarm-observer.1": help_options([os.path.join(BUILD, "src", "tuner", "kfarm-observer"),
                                      "--help"]),
    "kfarm-plot.1": help_options([os.path.join(BUILD, "tools", "kfarm-plot", "kfarm-plot"),
                                  "--help"]),
    "ptdr-gen.1": help_options([os.path.join(BUILD, "tools", "ptdr", "ptdr-gen"), "--help"]),
    "ptdr-convert.1": help_options([os.path.join(BUILD, "tools", "ptdr", "ptdr-convert"),
                                    "--help"]),
    "ptdr-run.1": help_options([os.path.join(BUILD, "tools", "ptdr", "ptdr-run"), "--help"]),
    "spank_kfarm.8": spank_options(),
}
missing = {}
for page, opts in pages.items():
    text = man_text(page)
    words = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9_-]*)", text)) | \
        set(re.findall(r"(?<![\w-])([a-z_]+)=", text))
    lack = sorted(o for o in opts if o not in words)
    if lack:
        missing[page] = lack
    w = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(MAN, page)],
                       capture_output=True, text=True)
    check(w.returncode == 0 and not w.stderr.strip(), "%s: groff warnings:\n%s" % (page, w.stderr))
    if page != "spank_kfarm.8":  # a plugin: srun/sbatch report its errors
        check(".SH EXIT STATUS" in open(os.path.join(MAN, page)).read(),
              "%s has no EXIT STATUS section" % page)
    print("%s: %d options documented" % (page, len(opts)))
check(not missing, "options printed by --help but missing from the man page: %r" % missing)
print("ok: man pages cover --help")
