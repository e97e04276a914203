#!/usr/bin/env bash
# End-to-end check of the ptdr adapter through a running kfarm gateway: loads generated profiles
# with the ordered broadcast, sends traffic-simulator-shaped monte-carlo requests and compares
# every reply with ptdr-run (the same adapter run locally with the same seed and samples).
#
# Usage: ptdr_e2e.sh ENDPOINT [SEED] [SAMPLES]
#   ENDPOINT  the gateway's request endpoint in bind topology (clients connect a DEALER),
#             e.g. tcp://127.0.0.1:5555
#   SEED, SAMPLES  what kfarm was started with (--adapter-arg seed=.. samples=..; defaults 0, 1000)
# Env: KFARM_BUILD_DIR (default ./build), PTDR_E2E_DIR (data dir the workers can read; default a
# temp dir, removed on exit), PTDR_E2E_REQUESTS (default 40), PTDR_E2E_PROFILES (a ptdr-gen map
# kfarm was started with, --adapter-arg profiles=...: then no load-profiles broadcast is sent).
set -euo pipefail
endpoint=${1:?usage: ptdr_e2e.sh ENDPOINT [SEED] [SAMPLES]}
seed=${2:-0}
samples=${3:-1000}
build=${KFARM_BUILD_DIR:-$PWD/build}
requests=${PTDR_E2E_REQUESTS:-40}
if [ -n "${PTDR_E2E_DIR:-}" ]; then
    dir=$PTDR_E2E_DIR
    mkdir -p "$dir"
else
    dir=$(mktemp -d /tmp/ptdr-e2e-XXXXXX)
    trap 'rm -rf "$dir"' EXIT
fi

if [ -n "${PTDR_E2E_PROFILES:-}" ]; then
    map=$PTDR_E2E_PROFILES broadcast=0
    segments=$("$build/tools/ptdr/ptdr-convert" --info "$map" | sed -n 's/^.*: \([0-9]*\) segments.*/\1/p')
else
    map=$dir/map.bin broadcast=1 segments=300
    "$build/tools/ptdr/ptdr-gen" profiles --segments 300 --seed 21 -o "$dir/map.json"
    "$build/tools/ptdr/ptdr-convert" "$dir/map.json" "$map" >/dev/null
fi
"$build/tools/ptdr/ptdr-gen" routes --segments "$segments" --seed 22 --requests "$requests" \
    --alternatives 4 --length 60 -o "$dir/requests.jsonl"
"$build/tools/ptdr/ptdr-run" "profiles=$map" "seed=$seed" "samples=$samples" \
    opencl_device=none <"$dir/requests.jsonl" >"$dir/expected.txt"

/usr/bin/python3 - "$endpoint" "$map" "$dir/requests.jsonl" "$dir/expected.txt" "$broadcast" <<'PY'
import json, sys, zmq
endpoint, profiles, req_path, exp_path, broadcast = sys.argv[1:]
requests = [l.rstrip("\n") for l in open(req_path)]
expected = [l.rstrip("\n") for l in open(exp_path)]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
poller = zmq.Poller()
poller.register(s, zmq.POLLIN)

def recv(timeout_ms=30000):
    if not poller.poll(timeout_ms):
        sys.exit("ptdr_e2e: no reply from %s within %d ms" % (endpoint, timeout_ms))
    return s.recv_multipart()

# The ordered broadcast: applied on every worker before the requests that follow it.
if broadcast == "1":
    s.send_multipart([b"0", b"$broadcast:load-profiles", json.dumps(profiles).encode()])
    frames = recv()
    if len(frames) != 3 or frames[1] != b"ok":
        sys.exit("ptdr_e2e: load-profiles broadcast refused: %r" % frames)
for i, r in enumerate(requests):
    s.send_multipart([str(i + 1).encode(), b"monte-carlo", r.encode()])
replies = {}
while len(replies) < len(requests):
    frames = recv()
    i = int(frames[0]) - 1
    if i in replies:
        sys.exit("ptdr_e2e: request %d answered twice" % i)
    if len(frames) != 3 or frames[1] != b"ok":
        sys.exit("ptdr_e2e: request %d failed: %r" % (i, frames[1:]))
    replies[i] = frames[2].decode()
bad = [i for i in range(len(requests)) if replies[i] != expected[i]]
if bad:
    sys.exit("ptdr_e2e: %d replies differ from ptdr-run, first: request %d got %s, want %s"
             % (len(bad), bad[0], replies[bad[0]], expected[bad[0]]))
# A bad request gets an error reply naming the segment, and the service keeps answering.
s.send_multipart([b"9999", b"monte-carlo",
                  b'{"routes":[["NOPE1"]],"frequency":60,"departure_time":0}'])
frames = recv()
if len(frames) != 2 or b"NOPE1" not in frames[1]:
    sys.exit("ptdr_e2e: unknown segment not reported: %r" % frames)
print("ptdr_e2e: %d monte-carlo replies match ptdr-run; chosen routes: %s"
      % (len(requests), " ".join(replies[i] for i in range(min(20, len(requests))))))
PY
