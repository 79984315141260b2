#!/usr/bin/env bash
# One wrk run against a Gatehouse build with a CPU profile of the server
# taken during it (docs/benchmarks.md): requests per second, the server's
# CPU time per request (user + system, /proc/PID/stat), and OUT/SCENARIO.pprof.
#
#   bench/profile.sh BINARY DATABASE_URL OUT SCENARIO
#   bench/profile.sh /tmp/gatehouse /tmp/bench/sqlite-1000000/gatehouse.db /tmp/bench/sqlite-1000000 get_by_id
#   go tool pprof -top -cum /tmp/bench/sqlite-1000000/get_by_id.pprof
#
# OUT is a directory bench/run.sh seeded (token.txt, ids.txt, names.txt).
# The server logs to /dev/null; 16 connections, 4 s of warm-up, 12 s of
# load with a 10 s profile inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?gatehouse binary} dburl=${2:?database URL or SQLite path} out=${3:?bench/run.sh OUT directory} scenario=${4:?scenario}
port=${PORT:-18180} dport=$((${PORT:-18180} + 2))
GATEHOUSE_DEBUG_LISTEN=127.0.0.1:$dport "$bin" serve --config bench/gatehouse.yaml --database-url "$dburl" \
  --listen 127.0.0.1:$port --log-format json 2>/dev/null >/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.1; done
export WRKDIR=$(pwd)/bench/wrk TOKEN=$(cat "$out/token.txt") IDS=$out/ids.txt NAMES=$out/names.txt PREFIX=$$$RANDOM
wrk -t2 -c16 -d4s -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" >/dev/null
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
t0=$(cpu_ticks $server)
wrk -t2 -c16 -d12s -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" > "$out/$scenario.wrk" &
w=$!
sleep 1
curl -sf -o "$out/$scenario.pprof" "http://127.0.0.1:$dport/debug/pprof/profile?seconds=10"
wait $w
t1=$(cpu_ticks $server)
python3 - "$(tail -n 1 "$out/$scenario.wrk")" "$t0" "$t1" "$hz" "$scenario" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
t0, t1, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"{sys.argv[5]}: {r['rps']:.0f} req/s, p99 {r['p99_ms']} ms, {(t1 - t0) / hz * 1e6 / max(r['requests'], 1):.1f} µs server CPU/req, non-2xx {r['non2xx']}")
PY
