#!/usr/bin/env python3
"""Reads `go tool pprof -top -cum` output of a CPU profile taken during a
GET run and prints, as one JSON line, the CPU time spent in
auth.(*Service).Authenticate against all request handling
(net/http.(*conn).serve)."""
import json
import re
import sys

path, kind, users = sys.argv[1:]
cum = {}
row = re.compile(r"\s*[\d.]+(?:ms|s|us|µs)?\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(ms|s|us|µs)\s+[\d.]+%\s+(\S+)")
scale = {"s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
for line in open(path):
    m = row.match(line)
    if m:
        cum[m.group(3)] = max(cum.get(m.group(3), 0), float(m.group(1)) * scale[m.group(2)])
handler = cum.get("net/http.(*conn).serve", 0)
authn = cum.get("github.com/gatehouse-id/gatehouse/internal/auth.(*Service).Authenticate", 0)
print(json.dumps({"scenario": "auth_share", "db": kind, "users": int(users),
                  "handler_cpu_s": round(handler, 3), "authenticate_cpu_s": round(authn, 3),
                  "share_pct": round(100 * authn / handler, 2) if handler else None}))
