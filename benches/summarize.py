#!/usr/bin/env python3
"""Turn one benchmark run's raw results into the Markdown tables of BENCHMARKS.md.

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
    "nginx-auth-request": "nginx `auth_request` → portcullis `/.portcullis/auth` (separate process)",
    "minimal": "minimal hyper + moka proxy, no features (`examples/bench_minimal_proxy.rs`)",
    "portcullis-bearer": "**portcullis**, bearer token, cached",
    "portcullis-cookie": "**portcullis**, session cookie",
    "baseline-bearer": "baseline build (`--baseline`), bearer token, cached",
    "baseline-cookie": "baseline build (`--baseline`), session cookie",
}


def load(results_dir):
    rows = []
    with open(results_dir / "results.tsv") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        for line in handle:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def values(rows, variant, mode, field):
    return [float(row[field]) for row in rows
            if row["variant"] == variant and row["mode"] == mode and row[field] not in ("", "-")]


def median(rows, variant, mode, field):
    found = values(rows, variant, mode, field)
    return statistics.median(found) if found else None


def median_parts(rows, variant):
    """Median of each '+'-separated part of cpu_parts, e.g. nginx + auth service."""
    parts = [row["cpu_parts"].split("+") for row in rows
             if row["variant"] == variant and row["mode"] == "closed" and row["cpu_parts"] not in ("", "-")]
    if not parts or len(parts[0]) < 2:
        return None
    return " + ".join(f"{statistics.median(float(p[i]) for p in parts):.1f}" for i in range(len(parts[0])))


def fmt(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def print_main_table(rows, duration):
    variants = [v for v in LABELS if any(r["variant"] == v for r in rows)]
    rounds = len({r["round"] for r in rows})
    nginx_rps = median(rows, "nginx", "closed", "rps")
    auth_rps = median(rows, "nginx-auth-request", "closed", "rps")
    nginx_cpu = median(rows, "nginx", "closed", "cpu_us_per_req")
    direct_p50 = median(rows, "direct", "single", "p50_us")
    direct_p99 = median(rows, "direct", "single", "p99_us")

    print(f"Medians of {rounds} interleaved round(s), {duration:g} s per run, wrk -t1; "
          "closed loop at 64 connections, and 1 connection for the one-in-flight latency.\n")
    print("| path | req/s at 64 connections | vs nginx proxy_pass | vs nginx auth_request | "
          "proxy CPU per request (µs) | of which user space (µs) | CPU vs nginx | added latency, 1 in flight p50 / p99 (µs) "
          "| proxy RSS after the run (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in variants:
        rps = median(rows, variant, "closed", "rps")
        cpu = median(rows, variant, "closed", "cpu_us_per_req")
        rss = median(rows, variant, "closed", "rss_kib")
        user = median(rows, variant, "closed", "user_us_per_req") if "user_us_per_req" in rows[0] else None
        p50 = median(rows, variant, "single", "p50_us")
        p99 = median(rows, variant, "single", "p99_us")
        ratio = f"{rps / nginx_rps:.2f}" if rps and nginx_rps else "–"
        auth_ratio = f"{rps / auth_rps:.2f}" if rps and auth_rps else "–"
        cpu_text = median_parts(rows, variant) or fmt(cpu)
        cpu_ratio = f"{cpu / nginx_cpu:.2f}" if cpu and nginx_cpu else "–"
        if variant == "direct" or None in (p50, p99, direct_p50, direct_p99):
            added = "–"
        else:
            added = f"{p50 - direct_p50:+.0f} / {p99 - direct_p99:+.0f}"
        rss_mib = "–" if rss is None else f"{rss / 1024:.1f}"
        print(f"| {LABELS[variant]} | {fmt(rps, 0)} | {ratio} | {auth_ratio} | {cpu_text} | "
              f"{fmt(user)} | {cpu_ratio} | {added} | {rss_mib} |")
    single = [(LABELS[v], median(rows, v, "single", "p50_us"), median(rows, v, "single", "p99_us"))
              for v in variants]
    print("\nOne request in flight, absolute (µs): "
          + "; ".join(f"{label} {fmt(p50, 0)} / {fmt(p99, 0)}" for label, p50, p99 in single) + ".")


def print_open_loop(results_dir, rows):
    variants = [v for v in LABELS if (results_dir / f"oha-{v}.json").exists()]
    if not variants:
        return
    print("\nOpen loop (oha, fixed rate, latency corrected for coordinated omission):\n")
    print("| path | achieved req/s | p50 (µs) | p99 (µs) |")
    print("|---|---|---|---|")
    for variant in variants:
        data = read_json(results_dir / f"oha-{variant}.json")
        if data is None:
            continue
        try:
            summary = data["summary"]
            percentiles = data["latencyPercentiles"]
            print(f"| {LABELS[variant]} | {summary['requestsPerSec']:,.0f} | "
                  f"{percentiles['p50'] * 1e6:,.0f} | {percentiles['p99'] * 1e6:,.0f} |")
        except (KeyError, TypeError) as error:
            print(f"| {LABELS[variant]} | unreadable oha output ({error}) | | |")


def print_miss_scenarios(results_dir):
    scenarios = [
        ("miss per request (each token used once)", "open-loop-miss.json", "stats-miss.json"),
        ("1,000 distinct tokens, rotating", "open-loop-rotating.json", "stats-rotating.json"),
    ]
    printed_header = False
    for label, run_file, stats_file in scenarios:
        run = read_json(results_dir / run_file)
        stats = read_json(results_dir / stats_file)
        if run is None or stats is None:
            continue
        if not printed_header:
            print("\nCache-miss scenarios (open-loop driver `examples/bench_open_loop.rs`, "
                  "64 connections; the emulator is the introspection server):\n")
            print("| scenario | scheduled | completed (2xx / other / errors) | achieved req/s | "
                  "p50 / p99 (µs) | introspection calls | calls per second | gateway CPU per request (µs) |")
            print("|---|---|---|---|---|---|---|---|")
            printed_header = True
        calls = stats["after"].get("introspect", 0) - stats["before"].get("introspect", 0)
        elapsed = run["elapsed_s"] or 1
        completed = run["completed"] or 1
        cpu_us = stats["gateway_cpu_s"] / completed * 1e6
        print(f"| {label} | {run['scheduled']:,} | {run['ok']:,} / {run['non_2xx']:,} / {run['errors']:,} | "
              f"{run['achieved_rps']:,.0f} | {run['p50_us']:,} / {run['p99_us']:,} | {calls:,} | "
              f"{calls / elapsed:,.1f} | {cpu_us:.1f} |")

    stats = read_json(results_dir / "stats-stampede.json")
    stampede = results_dir / "wrk-stampede.txt"
    if stats is not None and stampede.exists():
        calls = stats["after"].get("introspect", 0) - stats["before"].get("introspect", 0)
        requests = next((line.split()[0] for line in stampede.read_text().splitlines()
                         if "requests in" in line), "?")
        print(f"\nStampede: 64 connections sending one uncached token for 2 s ({requests} requests) "
              f"caused {calls} introspection call(s).")


def print_memory(results_dir):
    for name, label in [("gateway-hwm-kib.txt", "peak RSS of the gateway after the cache-hit runs"),
                        ("gateway-rss-after-miss-kib.txt", "RSS of the gateway after the cache-miss runs")]:
        path = results_dir / name
        if path.exists():
            print(f"\n{label}: {int(path.read_text().strip()) / 1024:.1f} MiB.", end="")
    print()


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: summarize.py RESULTS_DIR DURATION_SECONDS")
    results_dir = pathlib.Path(sys.argv[1])
    duration = float(sys.argv[2])
    rows = load(results_dir)
    machine = results_dir / "machine.txt"
    if machine.exists():
        print("Machine: " + "; ".join(machine.read_text().splitlines()) + "\n")
    print_main_table(rows, duration)
    print_open_loop(results_dir, rows)
    print_miss_scenarios(results_dir)
    print_memory(results_dir)


if __name__ == "__main__":
    main()
