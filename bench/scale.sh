#!/usr/bin/env bash
# Writes on PostgreSQL, one server and several (issue 16; docs/benchmarks.md,
# "Writes on PostgreSQL and replicas"):
#
#   bench/scale.sh 1000000
#
# Seeds the users into database gatehouse_scale (SKIP_SEED=1 reuses it), then:
#   1. one server, POST /Users closed loop: wrk, 16 connections, RUNS runs
#      of DURATION s; Gatehouse's CPU and the CPU of the PostgreSQL backends
#      serving gatehouse_scale, per request (from /proc);
#   2. one server, open loop: bench/openloop at RATE POSTs/s (default 1500)
#      for 30 s, RUNS runs;
#   3. servers held to QUOTA of a CPU each (a cgroup v1 cpu quota, default
#      0.05), PostgreSQL not: one server, then three (wrk split over them),
#      RUNS runs each: how the aggregate grows with servers when the
#      database has CPU to spare.
# Needs wrk, PostgreSQL at 127.0.0.1:5432, root for the cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."

users=${1:?number of users}
duration=${DURATION:-10}
runs=${RUNS:-3}
rate=${RATE:-1500}
quota=${QUOTA:-0.05}
qusec=$(python3 -c "print(int($quota * 100000))")
out=bench/out/scale-$users
mkdir -p "$out"
dburl="postgres://postgres@127.0.0.1:5432/gatehouse_scale?sslmode=disable"
go build -o "$out/gatehouse" ./cmd/gatehouse
go build -o "$out/seed" ./bench/seed
go build -o "$out/openloop" ./bench/openloop
if [ -z "${SKIP_SEED:-}" ]; then
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS gatehouse_scale" -c "CREATE DATABASE gatehouse_scale"
  "$out/seed" -database-url "$dburl" -users "$users" -out "$out"
  psql -q -h 127.0.0.1 -U postgres -d gatehouse_scale -c "VACUUM ANALYZE"
fi
results=$out/results.jsonl
: > "$results"
export WRKDIR=$(pwd)/bench/wrk TOKEN=$(cat "$out/token.txt")
ticks_per_s=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# The CPU ticks of the PostgreSQL backends connected to gatehouse_scale.
pg_ticks() {
  local sum=0 p
  for p in $(pgrep -f "postgres: .* gatehouse_scale " || true); do
    sum=$((sum + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $sum
}

pids=()
# start N: N servers on ports 18090.., each in cgroup ghscale-I when LIMIT=1.
start() {
  local n=$1 i
  pids=()
  for ((i = 0; i < n; i++)); do
    "${BIN:-$out/gatehouse}" serve --config bench/gatehouse.yaml --database-url "$dburl" --listen 127.0.0.1:$((18090 + i)) \
      --data-dir "$out/data$i" --log-format json 2> "$out/server$i.log" > /dev/null &
    pids+=($!)
    if [ -n "${LIMIT:-}" ]; then
      mkdir -p /sys/fs/cgroup/cpu/ghscale-$i
      echo 100000 > /sys/fs/cgroup/cpu/ghscale-$i/cpu.cfs_period_us
      echo "$qusec" > /sys/fs/cgroup/cpu/ghscale-$i/cpu.cfs_quota_us
      echo "${pids[$i]}" > /sys/fs/cgroup/cpu/ghscale-$i/cgroup.procs
    fi
  done
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 1 200); do curl -sf http://127.0.0.1:$((18090 + i))/readyz >/dev/null && break; sleep 0.1; done
  done
}
stop() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop EXIT

# closed NAME SERVERS CONNS: wrk POST runs split over the servers, one line.
closed() {
  local name=$1 n=$2 conns=$3 i p p0 p1 g0=0 g1=0 files=() wrks=()
  for p in "${pids[@]}"; do g0=$((g0 + $(cpu_ticks "$p"))); done
  p0=$(pg_ticks)
  for ((i = 0; i < n; i++)); do
    PREFIX=$RANDOM$i wrk -t1 -c$((conns / n)) -d"${duration}s" -s bench/wrk/post_user.lua "http://127.0.0.1:$((18090 + i))" \
      | tail -n 1 > "$out/wrk$i.json" &
    wrks+=($!)
    files+=("$out/wrk$i.json")
  done
  for p in "${wrks[@]}"; do wait "$p"; done
  for p in "${pids[@]}"; do g1=$((g1 + $(cpu_ticks "$p"))); done
  p1=$(pg_ticks)
  python3 - "$name" "$n" "$conns" "$g0" "$g1" "$p0" "$p1" "$ticks_per_s" "${files[@]}" >> "$results" <<'EOF'
import json, sys
name, n, conns, g0, g1, p0, p1, hz = sys.argv[1:9]
rs = [json.loads(open(f).read()) for f in sys.argv[9:]]
req = sum(r["requests"] for r in rs)
out = {"scenario": name, "servers": int(n), "conns": int(conns),
       "req_per_s": round(sum(r["rps"] for r in rs)), "requests": req,
       "p50_ms": max(r["p50_ms"] for r in rs), "p99_ms": max(r["p99_ms"] for r in rs),
       "non2xx": sum(r.get("non2xx", 0) + r.get("errors", 0) for r in rs),
       "gatehouse_cpu_us_per_req": round((int(g1) - int(g0)) / int(hz) * 1e6 / max(req, 1)),
       "postgres_backend_cpu_us_per_req": round((int(p1) - int(p0)) / int(hz) * 1e6 / max(req, 1))}
print(json.dumps(out))
EOF
  tail -n 1 "$results"
}

echo "== one server"
start 1
wrk -t1 -c16 -d5s -s bench/wrk/post_user.lua http://127.0.0.1:18090 > /dev/null
for _ in $(seq 1 "$runs"); do closed post_closed_loop 1 16; done
echo "== one server, open loop at $rate/s"
for r in $(seq 1 "$runs"); do
  "$out/openloop" -urls http://127.0.0.1:18090 -token-file "$out/token.txt" -rate "$rate" -duration 30s -prefix "o$r$RANDOM" | tee -a "$results"
done
stop

echo "== servers held to $quota CPU each"
for n in 1 3; do
  LIMIT=1 start "$n"
  for _ in $(seq 1 "$runs"); do closed "post_closed_loop_quota_$quota" "$n" 18; done
  # (BIN=path/to/an/older/gatehouse runs the same with another build.)
  stop
done
for i in 0 1 2; do rmdir /sys/fs/cgroup/cpu/ghscale-$i 2>/dev/null || true; done
echo "{\"scenario\":\"machine\",\"cpus\":$(nproc),\"load_before\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"go\":\"$(go version | cut -d' ' -f3)\"}" >> "$results"
