#!/usr/bin/env bash
# The push benchmark of docs/benchmarks.md: the initial push of N accounts
# from a hub (seeded straight into its SQLite store) to a local SCIM target
# (another Gatehouse, generic profile) and to the RAM stand-in (gatehouse
# serve --profile ram, OAuth client credentials), then a second push of the
# same, unchanged accounts; on the RAM stand-in also a push after drift (a
# tenth of the RAM users deleted and a tenth renamed behind the push's back)
# and a --full push. Prints objects/s, the push's peak RSS and the requests
# each target received per account (its /metrics, token requests aside).
#
#   bench/push.sh 100000          # ≈ 6 min
#
# Environment: CONCURRENCY (the push's, default 16).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-100000}
conc=${CONCURRENCY:-16}
out=bench/out/push-$n
rm -rf "$out"
mkdir -p "$out"
go build -o "$out/gatehouse" ./cmd/gatehouse
go build -o "$out/seed" ./bench/seed
gh=$(pwd)/$out/gatehouse
admin=d4a7c1e9f3b6285a0e7c4f1b9d2a6e3c8f5b1d7a4e9c2f6b

echo "== seeding $n users into the hub"
"$out/seed" -database-url "$out/hub.db" -users "$n" -out "$out" 2> "$out/seed.log"

printf 'metrics:\n  public: true\n' > "$out/target.yaml"
GATEHOUSE_ADMIN_TOKEN=$admin "$gh" serve --config "$out/target.yaml" --listen 127.0.0.1:18180 --data-dir "$out/generic" --log-format json 2> "$out/generic.log" > /dev/null &
generic=$!
GATEHOUSE_ADMIN_TOKEN=$admin "$gh" serve --config "$out/target.yaml" --profile ram --listen 127.0.0.1:18181 --data-dir "$out/ram" --log-format json 2> "$out/ram.log" > /dev/null &
ram=$!
trap 'kill $generic $ram 2>/dev/null || true' EXIT
for port in 18180 18181; do
  curl -sS --retry 30 --retry-delay 1 --retry-connrefused -o /dev/null "http://127.0.0.1:$port/healthz"
done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
api() { curl -sS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
api -d '{"name":"hub"}' http://127.0.0.1:18180/admin/v1/apps > /dev/null
token=$(api -X POST http://127.0.0.1:18180/admin/v1/apps/hub/tokens | json token)
cid=$(api -d '{"name":"idaas-push","kind":"server-app","scopes":["/acs/scim"]}' http://127.0.0.1:18181/admin/v1/apps | json id)
secret=$(api -X POST http://127.0.0.1:18181/admin/v1/apps/idaas-push/secrets | json secret)

cat > "$out/rules.yaml" <<YAML
targets:
  generic:
    scim:
      base_url: http://127.0.0.1:18180/scim/v2
      token: "\${env:GENERIC_TOKEN}"
      push: {concurrency: $conc, follow: false}
  ram:
    scim:
      profile: ram
      base_url: http://127.0.0.1:18181
      token_url: http://127.0.0.1:18181/v1/token
      token_style: ram
      client_id: "$cid"
      client_secret: "\${env:RAM_SECRET}"
      push: {concurrency: $conc, follow: false}
YAML
cat > "$out/hub.yaml" <<YAML
events:
  rules_file: $(pwd)/$out/rules.yaml
  egress_allow: [127.0.0.0/8]
YAML
machine=$(printf '%s, %s CPUs' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)")
# requests PORT: the SCIM requests the target has answered so far (its
# /metrics; token and metrics requests aside).
requests() {
  curl -sS "http://127.0.0.1:$1/metrics" | python3 -c '
import re, sys
n = 0
for line in sys.stdin:
    m = re.match(r"gatehouse_http_requests_total\{(.*)\} (\S+)", line)
    if m and "/v1/token" not in m.group(1) and "/metrics" not in m.group(1):
        n += float(m.group(2))
print(int(n))'
}
# drift: delete every tenth RAM user and rename the one after it, directly
# at the stand-in.
drift() {
  local tok
  tok=$(curl -sS -X POST -u "$cid:$secret" "http://127.0.0.1:18181/v1/token?grant_type=client_credentials&client_id=$cid" | json access_token)
  python3 - "$tok" <<'PY'
import json, sys, urllib.request
tok, base = sys.argv[1], "http://127.0.0.1:18181"
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
users, start = [], 1
while True:
    page = call("GET", "/Users?startIndex=%d&count=100" % start)
    users += page["Resources"]
    start += len(page["Resources"])
    if not page["Resources"] or start > page["totalResults"]:
        break
for i, u in enumerate(users):
    if i % 10 == 0:
        call("DELETE", "/Users/" + u["id"])
    elif i % 10 == 1:
        call("PUT", "/Users/" + u["id"], {"userName": u["userName"], "externalId": u.get("externalId"), "displayName": "changed in RAM"})
PY
}
for spec in "generic initial" "generic again" "ram initial" "ram again" "ram drift" "ram full"; do
  read -r target run <<< "$spec"
  port=18180; [ "$target" = ram ] && port=18181
  flags=""
  [ "$run" = drift ] && drift
  [ "$run" = full ] && flags=--full
  before=$(requests $port)
  GENERIC_TOKEN=$token RAM_SECRET=$secret /usr/bin/time -f '%e %M' -o "$out/$target-$run.time" \
    "$gh" push "$target" $flags --json --config "$out/hub.yaml" --database-url "$out/hub.db" > "$out/$target-$run.jsonl" || true
  after=$(requests $port)
  read -r secs kib < "$out/$target-$run.time"
  summary=$(tail -n 1 "$out/$target-$run.jsonl")
  python3 - "$target" "$run" "$secs" "$kib" "$n" "$summary" "$machine" "$((after - before))" <<'PY'
import json, sys
target, run, secs, kib, n, summary, machine, reqs = sys.argv[1:]
s = json.loads(summary)
print(json.dumps({"target": target, "run": run, "accounts": int(n), "seconds": float(secs),
                  "objects_per_s": round(int(n) / float(secs)), "peak_rss_mib": round(int(kib) / 1024),
                  "requests": int(reqs), "requests_per_account": round(int(reqs) / int(n), 4),
                  "actions": s["actions"], "errors": s["errors"], "machine": machine}))
PY
done | tee "$out/results.jsonl"
