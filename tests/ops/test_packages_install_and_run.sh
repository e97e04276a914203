#!/usr/bin/env bash
# `cpack -G DEB` builds kfarm, kfarm-spank, kfarm-esfm and kfarm-dev; extracted with dpkg -x into a
# throwaway root, the binaries run from there (kfarm --version), the files each package promises
# are in it, and a program builds against kfarm-dev's headers and pkg-config file.
set -euo pipefail
build=${KFARM_BUILD_DIR:?}
tmp=$(mktemp -d /tmp/kfarm-ops-pkg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

[[ -f $build/CPackConfig.cmake ]] ||
  fail "no CPackConfig.cmake in $build: the top-level CMakeLists.txt must include(cmake/KfarmPackaging.cmake)"
(cd "$build" && cpack -G DEB -B "$tmp/pkgs" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack failed"; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")/\1/p' "$build/CPackConfig.cmake")
for p in kfarm kfarm-spank kfarm-esfm kfarm-dev; do
  deb=$tmp/pkgs/${p}_${version}_amd64.deb
  [[ -f $deb ]] || fail "package $p not built (have: $(ls "$tmp/pkgs"))"
  [[ $(dpkg-deb -f "$deb" Package) == "$p" ]] || fail "$deb is not package $p"
  dpkg-deb -c "$deb" | awk '{print $6}' >"$tmp/$p.files"
  dpkg -x "$deb" "$tmp/root"
done
has() { grep -qx "./$2" "$tmp/$1.files" || fail "package $1 lacks /$2"; }
arch=usr/lib/x86_64-linux-gnu
for f in usr/bin/kfarm usr/bin/kfarm-client usr/bin/kfarm-plot usr/share/man/man1/kfarm.1 \
         usr/share/man/man1/kfarm-client.1 usr/share/man/man1/kfarm-learner.1 \
         usr/share/man/man1/kfarm-observer.1 usr/lib/python3/dist-packages/kfarm_client.py \
         usr/lib/python3/dist-packages/kfarm/__init__.py usr/lib/python3/dist-packages/kfarm/py.typed \
         usr/bin/ptdr-gen usr/bin/ptdr-run usr/share/man/man1/kfarm-plot.1 \
         lib/systemd/system/kfarm-learner.service lib/systemd/system/kfarm-observer.service \
         etc/kfarm/kfarm-learner.conf etc/kfarm/kfarm-observer.conf \
         usr/share/doc/kfarm/examples/mosquitto-kfarm.acl \
         $arch/kfarm/adapters/ptdr.so; do has kfarm "$f"; done
for f in usr/sbin/esfm etc/kfarm/esfm-policy.example.json usr/share/man/man8/esfm.8 var/lib/esfm/ \
         lib/systemd/system/esfmd.service; do
  has kfarm-esfm "$f"
done
for f in etc/slurm/plugstack.conf.d/kfarm.conf usr/share/man/man8/spank_kfarm.8; do has kfarm-spank "$f"; done
if [[ -f $build/src/spank/spank_kfarm.so ]]; then has kfarm-spank "$arch/slurm-wlm/spank_kfarm.so"; fi
for f in usr/include/kfarm/client.h usr/include/kfarm/esfm.h usr/include/kfarm/tuner.h \
         $arch/pkgconfig/kfarm-client.pc $arch/pkgconfig/esfm.pc $arch/pkgconfig/kfarm-tuner.pc \
         $arch/libkfarm_client.so $arch/libkfarm_tuner.a; do has kfarm-dev "$f"; done
ls "$tmp/root/$arch"/libkfarm_client.so.0 >/dev/null || fail "libkfarm_client.so.0 missing"
dpkg-deb -f "$tmp/pkgs/kfarm-spank_${version}_amd64.deb" Depends | grep -q "kfarm-esfm" ||
  fail "kfarm-spank does not depend on kfarm-esfm"
dpkg-deb -I "$tmp/pkgs/kfarm-esfm_${version}_amd64.deb" conffiles | grep -qx /etc/kfarm/esfm-policy.example.json ||
  fail "the example policy is not a conffile"
# Every line of the plugstack snippet is a comment: installing it changes nothing by itself.
! grep -v '^#' "$tmp/root/etc/slurm/plugstack.conf.d/kfarm.conf" | grep -q . ||
  fail "plugstack.conf.d/kfarm.conf has an active line"
/usr/bin/python3 -m json.tool "$tmp/root/etc/kfarm/esfm-policy.example.json" >/dev/null ||
  fail "example policy is not JSON"

# Run from the root, with its libraries (and not the build tree's: RUNPATH must not point there).
export LD_LIBRARY_PATH=$tmp/root/$arch
out=$("$tmp/root/usr/bin/kfarm" --version) || fail "kfarm --version failed: $out"
[[ $out == "kfarm $version" ]] || fail "kfarm --version printed '$out'"
out=$("$tmp/root/usr/bin/kfarm-client" --version) || fail "kfarm-client --version failed"
[[ $out == "kfarm-client $version" ]] || fail "kfarm-client --version printed '$out'"
ldd "$tmp/root/usr/bin/kfarm-client" | grep libkfarm_client | grep -q "$tmp/root" ||
  fail "kfarm-client does not use the packaged libkfarm_client: $(ldd "$tmp/root/usr/bin/kfarm-client" | grep kfarm)"
"$tmp/root/usr/sbin/esfm" --help 2>&1 | grep -q "list-vfs" || fail "esfm --help from the package"
PYTHONPATH=$tmp/root/usr/lib/python3/dist-packages /usr/bin/python3 -c \
  "import kfarm, kfarm.aio, kfarm_client, sys; sys.exit(not kfarm.__file__.startswith('$tmp/root'))" ||
  fail "the packaged Python client does not import"
dpkg-deb -I "$tmp/pkgs/kfarm_${version}_amd64.deb" conffiles | grep -qx /etc/kfarm/kfarm-learner.conf ||
  fail "kfarm-learner.conf is not a conffile"
out=$("$tmp/root/usr/bin/kfarm-plot" --version) && [[ $out == "kfarm-plot $version" ]] ||
  fail "kfarm-plot --version printed '$out'"

# kfarm-dev: a client program builds with pkg-config against the extracted headers and library.
cat >"$tmp/hello.c" <<'C'
#include <kfarm/client.h>
#include <stdio.h>
int main(void)
{
    char err[256];
    struct kf_client_opts o = {"tcp://127.0.0.1:1", NULL, 0};
    struct kf_client *c = kf_client_new(&o, err, sizeof(err));
    kf_client_free(c);
    puts(c ? "client made" : err);
    return 0;
}
C
export PKG_CONFIG_PATH=$tmp/root/$arch/pkgconfig
flags=$(pkg-config --define-variable=prefix="$tmp/root/usr" --cflags --libs kfarm-client) ||
  fail "pkg-config kfarm-client"
cc -o "$tmp/hello" "$tmp/hello.c" $flags || fail "cannot build against kfarm-dev ($flags)"
[[ $("$tmp/hello") == "client made" ]] || fail "the program built against kfarm-dev does not run"
pkg-config --define-variable=prefix="$tmp/root/usr" --exists esfm kfarm-tuner ||
  fail "pkg-config esfm / kfarm-tuner"
echo "ok: 4 packages, $(cat "$tmp"/*.files | grep -vc '/$') files; kfarm --version from the extracted root: $out"
