#!/usr/bin/env bash
# Benchmarks of docs/benchmarks.md: seeds a database, starts Gatehouse on it,
# and measures each scenario with wrk (closed loop, 2 threads, on the same
# machine), three times, alongside a trivial net/http handler and the floor
# of a GET by id (bench/floor: the user's row read with Gatehouse's driver
# and written out, nothing else).
#
#   bench/run.sh sqlite 100000
#   bench/run.sh postgres 1000000
#
# Environment: DURATION (seconds per run, default 10), CONNS (default "8 16"),
# RUNS (default 3), SKIP_SEED=1 to reuse the last seeded database, SKIP_WALK=1,
# SKIP_WRITES=1 (no POST/PATCH runs), SKIP_AUTH=1 (no token endpoint and
# authentication-cost runs), ONLY_AUTH=1 (those only), RESULTS (file name,
# default results.jsonl), OUT (directory for the binaries, the seeded SQLite
# database and the results; default bench/out/<kind>-<users>: put it under
# /tmp to keep a 1,000,000-user database off the work tree), PGDB (the
# PostgreSQL database to recreate, default gatehouse_bench), PORT (Gatehouse's
# port, default 18080; the trivial handler listens on PORT+1, pprof on PORT+2,
# the floor on PORT+3),
# GATEHOUSE (a gatehouse binary to measure instead of building the work tree:
# GATEHOUSE=/tmp/gatehouse-before SKIP_SEED=1 bench/run.sh … compares builds on
# the same data).
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?sqlite or postgres}
users=${2:?number of users}
duration=${DURATION:-10}
conns=${CONNS:-"8 16"}
runs=${RUNS:-3}
out=${OUT:-bench/out/$kind-$users}
pgdb=${PGDB:-gatehouse_bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
port=${PORT:-18080} # Gatehouse; the trivial handler on port+1, pprof on port+2, the floor on port+3
bport=$((port + 1)) dport=$((port + 2)) fport=$((port + 3))

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }
bin=${GATEHOUSE:-}
if [ -z "$bin" ]; then
  go build -o "$out/gatehouse" ./cmd/gatehouse
  bin=$out/gatehouse
fi
go build -o "$out/baseline" ./bench/baseline
go build -o "$out/floor" ./bench/floor
go build -o "$out/walk" ./bench/walk
go build -o "$out/seed" ./bench/seed

case $kind in
sqlite)
  dburl=$out/gatehouse.db
  [ -n "${SKIP_SEED:-}" ] || rm -f "$dburl" "$dburl-wal" "$dburl-shm"
  ;;
postgres)
  dburl="postgres://postgres@127.0.0.1:5432/$pgdb?sslmode=disable"
  if [ -z "${SKIP_SEED:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $pgdb" -c "CREATE DATABASE $pgdb"
  fi
  ;;
*) echo "kind must be sqlite or postgres"; exit 2 ;;
esac

if [ -z "${SKIP_SEED:-}" ]; then
  echo "== seeding $users users into $kind"
  "$out/seed" -database-url "$dburl" -users "$users" -out "$out"
  [ "$kind" = postgres ] && psql -q -h 127.0.0.1 -U postgres -d "$pgdb" -c "VACUUM ANALYZE"
fi

results=$out/${RESULTS:-results.jsonl}
: > "$results"
machine=$(printf '%s, %s CPUs, %s' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" "$(free -g | awk '/Mem:/{print $2" GiB"}')")

GATEHOUSE_DEBUG_LISTEN=127.0.0.1:$dport \
  "$bin" serve --config bench/gatehouse.yaml --database-url "$dburl" --listen 127.0.0.1:$port --log-format json 2> "$out/server.log" > "$out/server.out" &
server=$!
"$out/baseline" -listen 127.0.0.1:$bport &
baseline=$!
trap 'kill $server $baseline ${floor:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.1; done
# After Gatehouse is ready: it creates and migrates the database.
"$out/floor" -database-url "$dburl" -listen 127.0.0.1:$fport &
floor=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$fport/readyz >/dev/null && break; sleep 0.1; done

export WRKDIR=$(pwd)/bench/wrk TOKEN=$(cat "$out/token.txt") IDS=$out/ids.txt NAMES=$out/names.txt PREFIX=$$
export BASIC="Basic $(tr -d '\n' < "$out/client.txt" | base64 -w0)"

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

# measure NAME SCRIPT CONNS [PORT [PID]]: one wrk run, one JSON line.
measure() {
  local name=$1 script=$2 c=$3 to=${4:-$port} pid=${5:-$server}
  local t0 line t1
  t0=$(cpu_ticks "$pid")
  line=$(wrk -t2 -c"$c" -d"${duration}s" -s "bench/wrk/$script" "http://127.0.0.1:$to" | tail -n 1)
  t1=$(cpu_ticks "$pid")
  python3 - "$name" "$c" "$line" "$t0" "$t1" "$ticks_per_s" "$kind" "$users" >> "$results" <<'EOF'
import json, sys
name, c, line, t0, t1, hz, kind, users = sys.argv[1:]
r = json.loads(line)
r.update(scenario=name, conns=int(c), db=kind, users=int(users))
r["server_cpu_us_per_req"] = round((int(t1) - int(t0)) / int(hz) * 1e6 / max(r["requests"], 1), 1)
print(json.dumps(r))
EOF
  tail -n 1 "$results"
}

echo "== warm-up"
wrk -t2 -c16 -d5s -s bench/wrk/get_by_id.lua http://127.0.0.1:$port >/dev/null
wrk -t2 -c16 -d3s -s bench/wrk/baseline.lua http://127.0.0.1:$bport >/dev/null

if [ -n "${ONLY_AUTH:-}" ]; then conns=""; SKIP_WRITES=1; SKIP_WALK=1; fi
for c in $conns; do
  for _ in $(seq 1 "$runs"); do
    measure baseline baseline.lua "$c" $bport "$baseline"
    measure floor_get_by_id get_by_id.lua "$c" $fport "$floor"
    measure get_by_id get_by_id.lua "$c"
    measure filter_username filter_username.lua "$c"
    measure filter_email filter_email.lua "$c"
  done
done
if [ -z "${SKIP_WRITES:-}" ]; then
  for _ in $(seq 1 "$runs"); do
    measure post_user post_user.lua 16
    measure patch_user patch_user.lua 16
  done
fi

if [ -z "${SKIP_AUTH:-}" ]; then
  echo "== token endpoint and the cost of authentication"
  export ACCESS_TOKEN=$(curl -sf -H "Authorization: $BASIC" -d grant_type=client_credentials http://127.0.0.1:$port/oauth2/token |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  for _ in $(seq 1 "$runs"); do
    measure oauth_token oauth_token.lua 16
    measure get_by_id_jwt get_by_id_jwt.lua 16
  done
  # One GET run with a CPU profile of the server taken during it: the share
  # of the request-handling CPU time spent authenticating.
  wrk -t2 -c16 -d"$((duration + 4))s" -s bench/wrk/get_by_id.lua http://127.0.0.1:$port > "$out/profiled_get.txt" &
  wrkpid=$!
  sleep 2
  curl -sf -o "$out/get.pprof" "http://127.0.0.1:$dport/debug/pprof/profile?seconds=$duration"
  wait $wrkpid
  go tool pprof -top -cum "$out/get.pprof" 2>/dev/null > "$out/get.pprof.txt"
  python3 bench/authshare.py "$out/get.pprof.txt" "$kind" "$users" >> "$results"
  tail -n 1 "$results"
fi

if [ -z "${SKIP_WALK:-}" ]; then
  echo "== walking every user, count=100"
  for mode in index cursor; do
    "$out/walk" -base http://127.0.0.1:$port/scim/v2 -count 100 -mode "$mode" -token-file "$out/token.txt" |
      python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(scenario="walk_"+r["mode"], db=sys.argv[1], seeded=int(sys.argv[2])); print(json.dumps(r))' "$kind" "$users" | tee -a "$results"
  done
fi

rss=$(awk '/VmHWM/{print $2}' "/proc/$server/status")
echo "{\"scenario\":\"peak_rss\",\"db\":\"$kind\",\"users\":$users,\"kib\":$rss}" | tee -a "$results"
echo "{\"scenario\":\"machine\",\"machine\":\"$machine\",\"go\":\"$(go version | cut -d' ' -f3)\"}" >> "$results"
kill -TERM $server
wait $server 2>/dev/null || true
python3 bench/summarize.py "$results"
