#!/usr/bin/env bash
# Per-request cost of one Convoy hop (client -> sidecar outbound -> backend), measured with
# tools whose counts do not depend on what else the machine is doing:
#
#   benches/scripts/profile-hop.sh callgrind [REQUESTS]   # instructions per request (valgrind)
#   benches/scripts/profile-hop.sh syscalls  [REQUESTS]   # system calls per request (strace -c)
#
# Needs release binaries: cargo build --release -p convoy-proxy -p convoy-bench
# The sidecar runs with one worker thread, as in `convoy-bench compare`. A warm-up of 500
# requests is not counted; then REQUESTS (default 4000) at 400/s over 4 connections are.
# CONVOY_PROFILE_CONFIG=FILE uses another sidecar YAML (its outbound listener must route
# Host `orders` to the backend, 127.0.0.1:18090). The callgrind output stays in the printed
# folder for callgrind_annotate / kcachegrind.
set -euo pipefail
mode=${1:-}
requests=${2:-4000}
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CONVOY_BIN_DIR:-$root/target/release}"
case "$mode" in
    callgrind) command -v valgrind >/dev/null || { echo "profile-hop: valgrind is not installed" >&2; exit 2; } ;;
    syscalls) command -v strace >/dev/null || { echo "profile-hop: strace is not installed" >&2; exit 2; } ;;
    *) echo "usage: $0 callgrind|syscalls [REQUESTS]" >&2; exit 2 ;;
esac
for b in convoy-proxy convoy-bench; do
    [ -x "$bin/$b" ] || { echo "profile-hop: $bin/$b is missing; cargo build --release -p convoy-proxy -p convoy-bench" >&2; exit 2; }
done

work="$(mktemp -d /tmp/convoy-profile.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

backend=127.0.0.1:18090
"$bin/convoy-bench" backend --listen "$backend" 2>"$work/backend.log" &
pids+=($!)

config="${CONVOY_PROFILE_CONFIG:-$work/sidecar.yaml}"
if [ -z "${CONVOY_PROFILE_CONFIG:-}" ]; then
    cat >"$config" <<YAML
sidecar:
  service: web
  app: 127.0.0.1:1
  listen: { outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }
services:
  orders:
    meshed: false
    endpoints: ["$backend"]
YAML
fi
# As in `convoy-bench compare`: warnings only, so the access log is off.
export RUST_LOG="${RUST_LOG:-warn}"
proxy=("$bin/convoy-proxy" --config "$config" --bound-addrs-file "$work/bound.json" --worker-threads 1)
if [ "$mode" = callgrind ]; then
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
        "${proxy[@]}" >"$work/proxy.log" 2>&1 &
else
    "${proxy[@]}" >"$work/proxy.log" 2>&1 &
fi
proxy_pid=$!
pids+=("$proxy_pid")

for _ in $(seq 1 600); do [ -s "$work/bound.json" ] && break; sleep 0.1; done
[ -s "$work/bound.json" ] || { echo "profile-hop: the sidecar did not start; $work/proxy.log:" >&2; cat "$work/proxy.log" >&2; exit 1; }
outbound=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outbound"])' "$work/bound.json")

load() { "$bin/convoy-bench" load "http://$outbound/" --host orders --rate "$1" --duration "$2" --connections 4 --json 2>/dev/null; }
ok=$(load 100 5s | python3 -c 'import json,sys; print(json.load(sys.stdin)["responses"])' 2>/dev/null || echo 0)
[ "$ok" -gt 0 ] || { echo "profile-hop: the warm-up got no answers; $work/proxy.log:" >&2; cat "$work/proxy.log" >&2; exit 1; }

seconds=$(( (requests + 399) / 400 ))
rate=$(python3 -c "print($requests/$seconds)")
case "$mode" in
callgrind)
    callgrind_control --instr=on "$proxy_pid" >/dev/null
    callgrind_control --zero "$proxy_pid" >/dev/null
    load "$rate" "${seconds}s" >"$work/load.json"
    callgrind_control --instr=off "$proxy_pid" >/dev/null
    callgrind_control --dump=measured "$proxy_pid" >/dev/null
    sleep 1
    out="$work/callgrind.out.1"
    total=$(awk '/^totals:/ {print $2; exit}' "$out")
    ;;
syscalls)
    strace -c -f -p "$proxy_pid" -o "$work/strace.txt" &
    strace_pid=$!
    sleep 1
    load "$rate" "${seconds}s" >"$work/load.json"
    kill -INT "$strace_pid"; wait "$strace_pid" || true
    ;;
esac
answered=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["responses"])' "$work/load.json")
echo "requests answered: $answered (asked $requests at $rate/s)"
case "$mode" in
callgrind)
    python3 -c "print(f'instructions per request: {$total/$answered:,.0f} ({$total:,} in all)')"
    echo "profile: callgrind_annotate $out"
    ;;
syscalls)
    python3 - "$work/strace.txt" "$answered" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
print(f"{'syscall':<16}{'per request':>12}")
for line in lines:
    parts = line.split()
    if len(parts) >= 5 and parts[-1] not in ("syscall", "total") and parts[3].isdigit():
        print(f"{parts[-1]:<16}{int(parts[3]) / n:>12.2f}")
    elif parts and parts[-1] == "total":
        calls = int(parts[3])
        print(f"{'total':<16}{calls / n:>12.2f}")
PY
    ;;
esac
echo "files: $work"
