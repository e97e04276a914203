# Shared setup for ESFM's CLI script tests: a FAKE sysfs tree (fake-tree), a FAKE hypervisor
# state file with vm1/vm2, and `esfm` = esfm-fakekernel on them. Sourced, not run.
set -euo pipefail
B=${KFARM_BUILD_DIR:?}/tests/esfm
T=$(mktemp -d /tmp/esfm-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
PF=0000:01:00.0 VF0=0000:01:00.1 VF1=0000:01:00.2 VF2=0000:01:00.3
fail() { echo "FAIL: $*" >&2; exit 1; }
new_env() { # new_env [device_pause=true|false]
    rm -rf "$T/sys" "$T/state" "$T/hv.json"*
    "$B/fake-tree" "$T/sys" pf $PF 8 pci-pf-stub 0 >/dev/null
    "$B/fake-tree" "$T/sys" dev 0000:00:02.0 - >/dev/null
    local dp=${1:-true}
    echo "{\"domains\":{\"vm1\":{\"device_pause\":$dp},\"vm2\":{\"device_pause\":$dp}}}" >"$T/hv.json"
}
esfm() { "$B/esfm-fakekernel" --sysfs-root "$T/sys" --state-dir "$T/state" \
    --connect "fake://$T/hv.json" "$@"; }
snapshot() { # everything a command could change: the tree, the VMs, the records
    ( cd "$T/sys" && find . -printf '%p %l\n' | sort && find . -type f -exec md5sum {} + | sort
      cat "$T/hv.json"; cat "$T/state/vfs.json" 2>/dev/null || true
      ls "$T/state/journal" 2>/dev/null || true ) | md5sum
}
# expect CODE 'message part' args...: exits CODE, says it, and changes nothing since $before.
expect() {
    local code=$1 msg=$2; shift 2
    set +e; out=$("$@" 2>&1); rc=$?; set -e
    [ "$rc" = "$code" ] || fail "'$*' exited $rc, want $code: $out"
    grep -qF -- "$msg" <<<"$out" || fail "'$*' said '$out', want '$msg'"
    [ "$(snapshot)" = "$before" ] || fail "'$*' changed something"
    echo "ok $code: $*"
}
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
# tcg_domain_xml NAME: the smallest libvirt domain a real libvirtd runs here (q35, TCG, no disk,
# 64 MiB), for the tests that drive ESFM against a real libvirtd.
tcg_domain_xml() {
    cat <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
XML
}
