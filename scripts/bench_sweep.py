#!/usr/bin/env python3
"""Run ``oms bench`` several times per load and print the range of each figure.

One run on a shared 2-core machine moves by +-15%; the figures in the README and in
docs/perf are the ranges this script prints. Every run's JSON line is appended to
``--out`` (default ``bench-sweep.jsonl``) so the ranges can be checked.

    python scripts/bench_sweep.py                       # max rate x3, 1,000/s x2, 500/s x2
    python scripts/bench_sweep.py --loads 0:3 1000:2 --orders 10000 --database both

Nothing here judges the figures; it exits non-zero only if a run failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from oms.bench.suite import figure  # noqa: E402

FIGURES = [  # (column, path into one scenario's result, format)
    ("orders/s", ("orders_per_s",), "{:,.0f}"),
    ("ack p50 ms", ("ack_ms", "p50"), "{:.2f}"),
    ("ack p99 ms", ("ack_ms", "p99"), "{:.2f}"),
    ("fill p99 ms", ("fill_ms", "p99"), "{:.2f}"),
    ("internal p50 us", ("internal_us", "p50"), "{:,.0f}"),
    ("internal p99 us", ("internal_us", "p99"), "{:,.0f}"),
    ("CPU us/order", ("cpu_us_per_order",), "{:,.0f}"),
    ("of it commits", ("commit_cpu_us_per_order",), "{:,.0f}"),
    ("client CPU us/order", ("client_cpu_us_per_order",), "{:,.0f}"),
    ("CPUs busy", ("cpus_busy",), "{:.2f}"),
    ("x relay", ("ratio_vs_relay", "orders_per_s"), "{:.2f}"),
]


def _range(values: list[float], form: str) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return form.format(low) if low == high else f"{form.format(low)}-{form.format(high)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", nargs="+", default=["0:3", "1000:2", "500:2"],
                        help="RATE:RUNS pairs; rate 0 is as fast as the window allows")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--database", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--out", type=Path, default=Path("bench-sweep.jsonl"))
    args = parser.parse_args(argv)

    failed = False
    rows: list[tuple[str, str, dict[str, list[float]]]] = []
    for load in args.loads:
        rate_text, _, runs_text = load.partition(":")
        rate, runs = float(rate_text), int(runs_text or 1)
        label = "max rate" if rate == 0 else f"{rate:g}/s"
        # a fixed rate needs no more orders than a few seconds' worth
        orders = args.orders if rate == 0 else min(args.orders, int(rate * 10))
        collected: dict[str, dict[str, list[float]]] = {}
        for run in range(1, runs + 1):
            print(f"{label}: run {run} of {runs}", file=sys.stderr, flush=True)
            done = subprocess.run(
                [sys.executable, "-m", "oms", "bench", "--orders", str(orders), "--rate",
                 str(rate), "--database", args.database, "--json-only"],
                stdout=subprocess.PIPE, text=True, check=False)
            line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            if done.returncode != 0 or not line:
                print(f"{label}: run {run} failed (exit {done.returncode})", file=sys.stderr)
                failed = True
                continue
            with args.out.open("a") as out:
                out.write(line + "\n")
            for scenario, result in json.loads(line)["results"].items():
                figures = collected.setdefault(scenario, {name: [] for name, _, _ in FIGURES})
                for name, path, _ in FIGURES:
                    value = figure(result, path)
                    if value is not None:
                        figures[name].append(value)
        rows += [(label, scenario, figures) for scenario, figures in collected.items()]

    header = ["load", "scenario", *[name for name, _, _ in FIGURES]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label, scenario, figures in rows:
        cells = [_range(figures[name], form) for name, _, form in FIGURES]
        print("| " + " | ".join([label, scenario, *cells]) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
