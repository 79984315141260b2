#!/usr/bin/env bash
# Compares the CPU time per request of gatehouse builds on a database that
# bench/run.sh seeded, alternating the builds round by round, so that a
# shared, noisy machine disturbs them alike (docs/benchmarks.md, issue 16).
#
#   bench/compare.sh OUT SCENARIO ROUNDS BINARY...
#   bench/compare.sh /tmp/bench/sqlite-1000000 get_by_id 3 /tmp/gatehouse-before /tmp/gatehouse-after
#   bench/compare.sh /tmp/bench/sqlite-1000000 get_by_id 3 baseline floor /tmp/gatehouse
#
# A build named baseline or floor is that yardstick (bench/baseline, the
# trivial handler; bench/floor, the floor of a GET by id, for get_by_id),
# built from the work tree.
#
# OUT is a directory bench/run.sh filled (OUT=… bench/run.sh …): its seeded
# database (gatehouse.db, or DATABASE_URL for PostgreSQL), token.txt,
# ids.txt and names.txt. Each round starts each build, warms it for 3 s and
# runs wrk (2 threads, CONNS connections, default 16) for DURATION seconds
# (default 8); it prints requests per second and the server's CPU time
# (user + system, from /proc/PID/stat) per request, the whole machine's
# (from /proc/stat: with PostgreSQL on the same machine, its CPU is in it,
# and wrk's), the server's minor page faults per request (a memory-mapped
# SQLite file faults its pages back in after each write), and wrk's p99 and
# maximum latency.
#
# WRITES=N runs, beside the measured scenario, one more wrk connection that
# creates about N users a second (bench/wrk/post_user_paced.lua): reads
# under a stream of writes, as a live hub serves them. The server's CPU per
# request then includes the writes' (at 35 a second, about 1 % of it).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:?OUT directory} scenario=${2:?scenario (get_by_id, filter_username, filter_email, …)} rounds=${3:?rounds}
shift 3
[ $# -gt 0 ] || { echo "name at least one gatehouse binary"; exit 2; }
dburl=${DATABASE_URL:-$out/gatehouse.db}
port=${PORT:-18090} conns=${CONNS:-16} duration=${DURATION:-8}
export WRKDIR=$(pwd)/bench/wrk TOKEN=$(cat "$out/token.txt") IDS=$out/ids.txt NAMES=$out/names.txt PREFIX=$$
hz=$(getconf CLK_TCK)
tmp=$(mktemp) yard=$(mktemp -d)
server= writes=
# An early exit (set -e) stops the server and the paced writer too.
trap 'kill $server $writes 2>/dev/null; rm -rf "$tmp" "$yard"' EXIT
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
minflt() { awk '{print $10}' "/proc/$1/stat"; }
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

# The yardsticks, named "baseline" and "floor" among the builds: the trivial
# handler and the floor of a GET by id (bench/floor: run it with the
# get_by_id scenario), built once.
for bin in "$@"; do
  case $bin in
  baseline | floor) go build -o "$yard/$bin" "./bench/$bin" ;;
  esac
done

for _ in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    case $bin in
    baseline) "$yard/baseline" -listen "127.0.0.1:$port" 2>/dev/null >/dev/null & ;;
    floor) "$yard/floor" -database-url "$dburl" -listen "127.0.0.1:$port" 2>/dev/null >/dev/null & ;;
    *) "$bin" serve --config bench/gatehouse.yaml --database-url "$dburl" --listen "127.0.0.1:$port" --log-format json 2>/dev/null >/dev/null & ;;
    esac
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    wrk -t2 -c"$conns" -d3s -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" >/dev/null
    t0=$(cpu_ticks $server) m0=$(machine_ticks) f0=$(minflt $server)
    writes=
    if [ "${WRITES:-0}" -gt 0 ]; then
      # A prefix of its own: its userNames must not collide with the
      # measured scenario's when that is post_user too.
      PREFIX=${PREFIX}w RATE=$WRITES wrk -t1 -c1 -d"${duration}s" -s bench/wrk/post_user_paced.lua "http://127.0.0.1:$port" > "$tmp" &
      writes=$!
    fi
    line=$(wrk -t2 -c"$conns" -d"${duration}s" -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" | tail -n 1)
    t1=$(cpu_ticks $server) m1=$(machine_ticks) f1=$(minflt $server)
    wline='{}'
    if [ -n "$writes" ]; then wait $writes || true; wline=$(tail -n 1 "$tmp"); writes=; fi
    [ -n "$wline" ] || wline='{}'
    kill $server
    wait $server 2>/dev/null || true
    server=
    python3 - "$line" "$t0" "$t1" "$hz" "$bin" "$scenario" "$m0" "$m1" "$f0" "$f1" "$wline" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
w = json.loads(sys.argv[11])
t0, t1, hz, m0, m1 = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[7]), int(sys.argv[8])
n = max(r["requests"], 1)
faults = (int(sys.argv[10]) - int(sys.argv[9])) / n
line = "%-16s %-32s %7d req/s %7.1f µs CPU/req (machine %7.1f)  %5.2f faults/req  p99 %6.1f ms  max %6.1f ms  non-2xx %d" % (sys.argv[6], sys.argv[5], r["rps"], (t1 - t0) / hz * 1e6 / n, (m1 - m0) / hz * 1e6 / n, faults, r["p99_ms"], r["max_ms"], r["non2xx"] + r["errors"])
if w:
    line += "  | beside %.0f POST/s (non-2xx %d)" % (w["rps"], w["non2xx"] + w["errors"])
print(line)
EOF
  done
done
