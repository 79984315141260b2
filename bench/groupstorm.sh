#!/usr/bin/env bash
# GETs of users beside GETs of a large group (docs/benchmarks.md, issue 16,
# "a twelfth session"): CONNS clients read GROUP_ID, with its members, for
# 10 s; after 1 s, CONNS more read users by id (bench/wrk/get_by_id.lua) for
# 6 s. Prints the users' wrk line (requests a second, p50, p99) and the
# group reads' rate and latency.
#
#   bench/groupstorm.sh BINARY DATABASE_URL OUT GROUP_ID
#
# OUT is a directory bench/seed filled (token.txt, ids.txt, names.txt); make
# the group with SCIM (POST /Groups, then PATCH add members in chunks).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?gatehouse binary} dburl=${2:?database URL or SQLite path} out=${3:?OUT directory} group=${4:?group id}
port=${PORT:-18096} conns=${CONNS:-8}
export WRKDIR=$(pwd)/bench/wrk IDS=$out/ids.txt NAMES=$out/names.txt PREFIX=$$ TOKEN=$(cat "$out/token.txt")
"$bin" serve --config bench/gatehouse.yaml --database-url "$dburl" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
tmp=$(mktemp)
trap 'kill $server 2>/dev/null || true; rm -f "$tmp"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
wrk -t1 -c"$conns" -d10s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/scim/v2/Groups/$group" > "$tmp" &
groups=$!
sleep 1
echo "users: $(wrk -t1 -c"$conns" -d6s -s bench/wrk/get_by_id.lua "http://127.0.0.1:$port" | tail -n 1)"
wait $groups
echo "group: $(grep -E 'Requests/sec' "$tmp" | tr -s ' ') / latency $(grep -E '^ +Latency' "$tmp" | tr -s ' ')"
