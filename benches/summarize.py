#!/usr/bin/env python3
"""Turn one benchmark run's raw results into the Markdown table of BENCHMARKS.md.

Usage: benches/summarize.py RESULTS_DIR DURATION_SECONDS
"""

import json
import pathlib
import statistics
import sys

LABELS = {
    "direct": "direct to upstream",
    "nginx": "nginx `proxy_pass` (upstream keepalive)",
    "haproxy": "HAProxy (`http-reuse always`)",
    "nginx-auth-request": "nginx `auth_request` → portcullis `/auth` as separate auth service",
    "portcullis-bearer": "**portcullis**, bearer token, cached",
    "portcullis-cookie": "**portcullis**, session cookie",
}


def load(results_dir):
    rows = []
    with open(results_dir / "results.tsv") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        for line in handle:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def median(rows, variant, mode, field):
    values = []
    for row in rows:
        if row["variant"] == variant and row["mode"] == mode and row[field] not in ("", "-"):
            values.append(float(row[field]))
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def main():
    results_dir = pathlib.Path(sys.argv[1])
    duration = float(sys.argv[2])
    rows = load(results_dir)
    variants = [v for v in LABELS if any(r["variant"] == v for r in rows)]
    rounds = len({r["round"] for r in rows})

    nginx_rps = median(rows, "nginx", "closed", "rps")
    auth_rps = median(rows, "nginx-auth-request", "closed", "rps")
    direct_p50 = median(rows, "direct", "single", "p50_us")
    direct_p99 = median(rows, "direct", "single", "p99_us")

    print(f"Medians of {rounds} interleaved round(s), {duration:g} s per run, wrk -t1.\n")
    print("| path | req/s at 64 connections | vs nginx proxy_pass | vs nginx auth_request | "
          "proxy CPU per request (µs) | added latency, 1 in flight p50/p99 (µs) | RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for variant in variants:
        rps = median(rows, variant, "closed", "rps")
        cpu = median(rows, variant, "closed", "cpu_us_per_req")
        rss = median(rows, variant, "closed", "rss_kib")
        p50 = median(rows, variant, "single", "p50_us")
        p99 = median(rows, variant, "single", "p99_us")
        ratio = f"{rps / nginx_rps:.2f}" if rps and nginx_rps else "–"
        auth_ratio = f"{rps / auth_rps:.2f}" if rps and auth_rps else "–"
        if variant == "direct" or None in (p50, p99, direct_p50, direct_p99):
            added = "–"
        else:
            added = f"+{p50 - direct_p50:.0f} / +{p99 - direct_p99:.0f}"
        rss_mib = "–" if rss is None else f"{rss / 1024:.1f}"
        print(f"| {LABELS[variant]} | {fmt(rps, 0)} | {ratio} | {auth_ratio} | {fmt(cpu)} | {added} | {rss_mib} |")

    print("\nOpen loop (oha, fixed rate):\n")
    print("| path | achieved req/s | p50 (µs) | p99 (µs) |")
    print("|---|---|---|---|")
    for variant in variants:
        path = results_dir / f"oha-{variant}.json"
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text())
            summary = data["summary"]
            percentiles = data["latencyPercentiles"]
            print(f"| {LABELS[variant]} | {summary['requestsPerSec']:,.0f} | "
                  f"{percentiles['p50'] * 1e6:,.0f} | {percentiles['p99'] * 1e6:,.0f} |")
        except (KeyError, ValueError, TypeError) as error:
            print(f"| {LABELS[variant]} | unreadable oha output ({error}) | | |")

    stats = (results_dir / "emulator-stats.txt")
    tokens_run = results_dir / "wrk-1000-tokens.txt"
    if stats.exists() and tokens_run.exists():
        before, after = [json.loads(line) for line in stats.read_text().splitlines()[:2]]
        calls = after.get("introspect", 0) - before.get("introspect", 0)
        rps = next((line.split()[1] for line in tokens_run.read_text().splitlines()
                    if line.startswith("Requests/sec:")), "?")
        print(f"\n1,000 distinct cached-after-first-use tokens, 64 connections: {rps} req/s, "
              f"{calls} introspection calls in {duration:g} s ({calls / duration:.1f} per second).")


if __name__ == "__main__":
    main()
