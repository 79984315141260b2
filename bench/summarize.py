#!/usr/bin/env python3
"""Summarizes bench/run.sh results: the median of the runs of each scenario,
and each throughput as a ratio of the trivial net/http handler measured with
the same concurrency in the same session. Prints a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = defaultdict(list)
extra = []
for r in rows:
    if "rps" in r:
        runs[(r["scenario"], r["conns"])].append(r)
    else:
        extra.append(r)

baseline = {c: statistics.median(x["rps"] for x in rs) for (s, c), rs in runs.items() if s == "baseline"}
print("| scenario | conns | req/s (median of %d) | ratio to net/http | p50 ms | p99 ms | server CPU µs/req | non-2xx |" % max(len(v) for v in runs.values()))
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (s, c), rs in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0] != "baseline", kv[0][0])):
    med = lambda k: statistics.median(x[k] for x in rs)
    base = baseline.get(c) or baseline.get(16) or 0
    ratio = med("rps") / base if base else 0
    print(f"| {s} | {c} | {med('rps'):,.0f} | {ratio:.2f} | {med('p50_ms'):.2f} | {med('p99_ms'):.2f} | {med('server_cpu_us_per_req'):.0f} | {sum(x['non2xx'] + x['errors'] for x in rs)} |")
for r in extra:
    if r["scenario"].startswith("walk"):
        tenths = ", ".join(f"{t:.1f}" for t in r["seconds_per_tenth"])
        # "total" is the walk's own count; "users" may hold the seeded count.
        print(f"\n{r['scenario']}: {r['total']:,} users in {r['pages']:,} pages, {r['seconds']:.1f} s "
              f"({r['total'] / r['seconds']:,.0f} users/s); seconds per tenth of the walk: {tenths}")
    elif r["scenario"] == "auth_share":
        print(f"\nauthentication in a profiled GET run: {r['authenticate_cpu_s']:.2f} s of {r['handler_cpu_s']:.2f} s "
              f"of request-handling CPU = {r['share_pct']}%")
    elif r["scenario"] == "peak_rss":
        print(f"\npeak RSS of the server: {r['kib'] / 1024:.0f} MiB")
    elif r["scenario"] == "machine":
        print(f"\nmachine: {r['machine']}; {r['go']}")
