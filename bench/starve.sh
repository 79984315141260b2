#!/usr/bin/env bash
# Point reads under a flood of expensive searches (docs/benchmarks.md,
# "Expensive queries"): seeds USERS users, starts `gatehouse serve` on them,
# and runs bench/starve (32 concurrent searches with a 100-term
# `emails.value ew` filter, count=1000, sortBy=displayName, beside one client
# reading users by id): the reads alone first, then under the flood, once
# with the flood honouring Retry-After and once ignoring it.
#
#   bench/starve.sh sqlite 31000
#   bench/starve.sh postgres 31000
#   GATEHOUSE=/tmp/gatehouse-old bench/starve.sh sqlite 31000   # another build
#
# Environment: DURATION (default 20s), CONC (default 32), SKIP_SEED=1 to
# reuse the last seeded database.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?sqlite or postgres}
users=${2:?number of users}
duration=${DURATION:-20s}
conc=${CONC:-32}
out=bench/out/starve-$kind-$users
mkdir -p "$out"

go build -o "$out/seed" ./bench/seed
go build -o "$out/starve" ./bench/starve
bin=${GATEHOUSE:-}
if [ -z "$bin" ]; then
  go build -o "$out/gatehouse" ./cmd/gatehouse
  bin=$out/gatehouse
fi

case $kind in
sqlite)
  dburl=$(pwd)/$out/gatehouse.db
  [ -n "${SKIP_SEED:-}" ] || rm -f "$dburl" "$dburl-wal" "$dburl-shm"
  ;;
postgres)
  dburl="postgres://postgres@127.0.0.1:5432/gatehouse_starve?sslmode=disable"
  if [ -z "${SKIP_SEED:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS gatehouse_starve" -c "CREATE DATABASE gatehouse_starve"
  fi
  ;;
*) echo "kind must be sqlite or postgres"; exit 2 ;;
esac
if [ -z "${SKIP_SEED:-}" ]; then
  "$out/seed" -database-url "$dburl" -users "$users" -out "$out"
  [ "$kind" = postgres ] && psql -q -h 127.0.0.1 -U postgres -d gatehouse_starve -c "VACUUM ANALYZE"
fi

"$bin" serve --config bench/gatehouse.yaml --database-url "$dburl" --listen 127.0.0.1:18083 --log-format json 2> "$out/server-$$.log" > "$out/server-$$.out" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18083/readyz >/dev/null && break; sleep 0.1; done

# Point reads alone first (the reference), then under the flood.
for run in "0 1s" "$conc 1s" "$conc 0s"; do
  set -- $run
  "$out/starve" -url http://127.0.0.1:18083/scim/v2 -token "$out/token.txt" -ids "$out/ids.txt" \
    -conc "$1" -duration "$duration" -backoff "$2" |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(db=sys.argv[1], users=int(sys.argv[2]), binary=sys.argv[3]); print(json.dumps(r))' \
      "$kind" "$users" "$bin" | tee -a "$out/results.jsonl"
done
