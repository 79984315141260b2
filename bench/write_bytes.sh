#!/usr/bin/env bash
# Bytes the server writes to disk per request of a scenario (docs/benchmarks.md,
# issue 16): /proc/PID/io's write_bytes (what reached the block layer: the
# WAL, checkpoints into the database file) and wchar (every write() call) over
# a wrk run, for gatehouse builds alternating round by round.
#
#   bench/write_bytes.sh OUT SCENARIO ROUNDS BINARY...
#   bench/write_bytes.sh /tmp/bench/sqlite-1000000 patch_user 2 /tmp/gatehouse-before /tmp/gatehouse-after
#
# OUT is a directory bench/run.sh filled (gatehouse.db, token.txt, ids.txt,
# names.txt). 16 connections, 3 s of warm-up, DURATION (default 10) seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?OUT directory} scenario=${2:?scenario} rounds=${3:?rounds}
shift 3
[ $# -gt 0 ] || { echo "name at least one gatehouse binary"; exit 2; }
port=${PORT:-18095} duration=${DURATION:-10}
export WRKDIR=$(pwd)/bench/wrk TOKEN=$(cat "$out/token.txt") IDS=$out/ids.txt NAMES=$out/names.txt PREFIX=$$
server=
trap 'kill $server 2>/dev/null || true' EXIT
io() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/io"; }
for _ in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    "$bin" serve --config bench/gatehouse.yaml --database-url "$out/gatehouse.db" --listen "127.0.0.1:$port" --log-format json >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    wrk -t2 -c16 -d3s -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" >/dev/null
    w0=$(io $server write_bytes) c0=$(io $server wchar)
    n=$(wrk -t2 -c16 -d"${duration}s" -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" | tail -n 1 |
      python3 -c 'import json,sys; print(max(json.load(sys.stdin)["requests"], 1))')
    w1=$(io $server write_bytes) c1=$(io $server wchar)
    kill $server
    wait $server 2>/dev/null || true
    server=
    printf '%-16s %-32s %7d requests  %7d bytes to disk/req  %7d bytes written (wchar)/req\n' \
      "$scenario" "$bin" "$n" $(((w1 - w0) / n)) $(((c1 - c0) / n))
  done
done
