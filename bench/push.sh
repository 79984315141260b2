#!/usr/bin/env bash
# The push benchmark of docs/benchmarks.md: the initial push of N accounts
# from a hub (seeded straight into its SQLite store) to a local SCIM target
# (another Gatehouse, generic profile) and to the RAM stand-in (gatehouse
# serve --profile ram, OAuth client credentials), then a second push of the
# same, unchanged accounts. Prints objects/s and the push's peak RSS.
#
#   bench/push.sh 100000          # ≈ 4 min
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
admin=bench0admin0token0with0enough0characters0123456789

echo "== seeding $n users into the hub"
"$out/seed" -database-url "$out/hub.db" -users "$n" -out "$out" 2> "$out/seed.log"

GATEHOUSE_ADMIN_TOKEN=$admin "$gh" serve --listen 127.0.0.1:18180 --data-dir "$out/generic" --log-format json 2> "$out/generic.log" > /dev/null &
generic=$!
GATEHOUSE_ADMIN_TOKEN=$admin "$gh" serve --profile ram --listen 127.0.0.1:18181 --data-dir "$out/ram" --log-format json 2> "$out/ram.log" > /dev/null &
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
for target in generic ram; do
  for run in initial again; do
    GENERIC_TOKEN=$token RAM_SECRET=$secret /usr/bin/time -f '%e %M' -o "$out/$target-$run.time" \
      "$gh" push "$target" --json --config "$out/hub.yaml" --database-url "$out/hub.db" > "$out/$target-$run.jsonl"
    read -r secs kib < "$out/$target-$run.time"
    summary=$(tail -n 1 "$out/$target-$run.jsonl")
    python3 - "$target" "$run" "$secs" "$kib" "$n" "$summary" "$machine" <<'PY'
import json, sys
target, run, secs, kib, n, summary, machine = sys.argv[1:]
s = json.loads(summary)
print(json.dumps({"target": target, "run": run, "accounts": int(n), "seconds": float(secs),
                  "objects_per_s": round(int(n) / float(secs)), "peak_rss_mib": round(int(kib) / 1024),
                  "actions": s["actions"], "errors": s["errors"], "machine": machine}))
PY
  done
done | tee "$out/results.jsonl"
