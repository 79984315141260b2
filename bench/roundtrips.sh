#!/usr/bin/env bash
# Counts what a lone SCIM POST sends to PostgreSQL (docs/benchmarks.md,
# issue 16): strace counts the server's writes to its PostgreSQL sockets
# (one per round trip: a statement, or a pipelined batch) during 20 POSTs
# 150 ms apart, and during an idle window of the same length; the
# difference over 20 is the figure. The idle window's ticks (the
# dispatcher's and the sealer's looks) are not exactly those of the busy
# one, so it is an estimate to a round trip or two.
#
#   bench/roundtrips.sh BINARY DATABASE_URL OUT
#   bench/roundtrips.sh /tmp/gatehouse postgres://postgres@127.0.0.1:5432/gatehouse_bench?sslmode=disable /tmp/bench/pg-1000000
#
# OUT is a directory bench/run.sh seeded (token.txt). Needs strace and ss.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?gatehouse binary} dburl=${2:?PostgreSQL URL} out=${3:?bench/run.sh OUT directory}
port=${PORT:-18400}
"$bin" serve --config bench/gatehouse.yaml --database-url "$dburl" --listen 127.0.0.1:$port >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.1; done
token=$(cat "$out/token.txt")
post() {
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/scim+json" \
    -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"rt-'"$1"'@example.com","emails":[{"value":"rt-'"$1"'@example.com","primary":true}],"active":true}' \
    "http://127.0.0.1:$port/scim/v2/Users"
}
posts() { for i in $(seq 1 20); do post "$$-$RANDOM-$i"; sleep 0.15; done; }
idle() { sleep 3.3; }
count() {
  local log
  log=$(mktemp)
  strace -f -qq -e trace=write,sendto -o "$log" -p $server &
  local st=$!
  sleep 0.3
  "$@"
  sleep 0.5
  kill $st
  wait $st 2>/dev/null || true
  local n=0 fd
  for fd in $(ss -tnpe | grep "pid=$server," | grep ":5432 " | grep -o "fd=[0-9]*" | cut -d= -f2 | sort -u); do
    n=$((n + $(grep -cE "(write|sendto)\($fd," "$log" || true)))
  done
  rm -f "$log"
  echo $n
}
for i in 1 2 3 4 5; do post "$$-warm-$i"; done
sleep 1
busy=$(count posts)
quiet=$(count idle)
python3 -c "import sys; b, q = int(sys.argv[1]), int(sys.argv[2]); print(f'{sys.argv[3]}: {b} writes to PostgreSQL during 20 POSTs, {q} in an idle window: {(b - q) / 20:.1f} per POST')" "$busy" "$quiet" "$bin"
