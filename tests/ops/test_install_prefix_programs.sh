#!/usr/bin/env bash
# `cmake --install BUILD --prefix DIR` into a fresh DIR, then every installed program runs from
# there with no ldconfig and no LD_LIBRARY_PATH (relative RUNPATH): `--help` and `--version` exit
# 0 (the version line is "NAME VERSION"), an unknown option exits 2, and each has a man page with
# an EXIT STATUS section. Every shortfall is listed, program by program, before the test fails.
# Then the modulefile, loaded with environment-modules, puts the prefix's programs, man pages and
# Python package first.
set -uo pipefail
build=${KFARM_BUILD_DIR:?}
tmp=$(mktemp -d /tmp/kfarm-ops-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
unset LD_LIBRARY_PATH
fail() { echo "FAIL: $*"; exit 1; }
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -5 "$tmp/install.log")"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[[ -n $version ]] || fail "no project version in $build/CMakeCache.txt"

problems=()
lacks() { problems+=("$1: $2"); }
n=0
for prog in "$prefix"/bin/* "$prefix"/sbin/*; do
  [[ -f $prog && -x $prog ]] || continue
  name=${prog##*/}
  n=$((n + 1))
  if file -b "$prog" | grep -q ELF; then
    missing=$(ldd "$prog" 2>&1 | grep "not found")
    [[ -z $missing ]] || { lacks "$name" "libraries not found: $missing"; continue; }
  fi
  rc=0; out=$(timeout 20 "$prog" --help 2>&1) || rc=$?
  ((rc == 0)) || lacks "$name" "--help exits $rc (want 0)"
  rc=0; out=$(timeout 20 "$prog" --version 2>&1) || rc=$?
  if ((rc != 0)); then
    lacks "$name" "--version exits $rc (want 0): $(head -1 <<<"$out" | cut -c1-100)"
  elif [[ $(head -1 <<<"$out") != "$name $version" ]]; then
    lacks "$name" "--version prints '$(head -1 <<<"$out")' (want '$name $version')"
  fi
  rc=0; out=$(timeout 20 "$prog" --no-such-option-kfarm 2>&1 </dev/null) || rc=$?
  ((rc == 2)) || lacks "$name" "an unknown option exits $rc (want 2)"
  page=$(ls "$prefix"/share/man/man[18]/"$name".[18] 2>/dev/null | head -1)
  if [[ -z $page ]]; then
    lacks "$name" "no man page in $prefix/share/man/man1 or man8"
  elif ! grep -q '^\.SH EXIT STATUS' "$page"; then
    lacks "$name" "man page ${page##*/} has no EXIT STATUS section"
  fi
done
((n >= 9)) || lacks "install" "only $n programs installed in $prefix/bin and sbin"

# The modulefile (environment-modules; Lmod reads the same Tcl file).
modulecmd=$(command -v modulecmd || echo /usr/lib/x86_64-linux-gnu/modulecmd.tcl)
if [[ ! -x $modulecmd ]]; then
  lacks "modulefile" "modulecmd not found: apt-get install environment-modules"
else
  env_out=$(MODULEPATH=$prefix/share/modulefiles "$modulecmd" bash load kfarm 2>&1) ||
    lacks "modulefile" "module load kfarm failed: $env_out"
  (
    eval "$env_out"
    [[ $(command -v kfarm-client) == "$prefix/bin/kfarm-client" ]] ||
      { echo "modulefile: kfarm-client is $(command -v kfarm-client)"; exit 1; }
    [[ $(man -w kfarm-plot 2>/dev/null) == "$prefix"/share/man/man1/kfarm-plot.1* ]] ||
      { echo "modulefile: man -w kfarm-plot gives '$(man -w kfarm-plot 2>&1)'"; exit 1; }
    py=$(/usr/bin/python3 -c "import kfarm; print(kfarm.__file__)" 2>&1)
    [[ $py == "$prefix"/* ]] || { echo "modulefile: python3 imports kfarm from '$py'"; exit 1; }
    [[ $KFARM_ROOT == "$prefix" ]] || { echo "modulefile: KFARM_ROOT=$KFARM_ROOT"; exit 1; }
  ) >"$tmp/module.log" 2>&1 || lacks "modulefile" "$(cat "$tmp/module.log")"
fi

if ((${#problems[@]})); then
  echo "FAIL: ${#problems[@]} problems with the programs installed into a fresh prefix:"
  printf '  %s\n' "${problems[@]}"
  exit 1
fi
echo "ok: $n programs from a fresh prefix: --help, --version, exit 2 on a bad option, man pages with EXIT STATUS; modulefile"
