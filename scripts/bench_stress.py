#!/usr/bin/env python3
"""Run ``oms bench`` again and again and keep what a failed run leaves behind.

A benchmark run that fails once in fifty is a bug somewhere (the OMS, a simulator or the
harness) that single runs will not explain. This script cycles through the given loads
and clients, ``--runs`` times, each run with ``--keep`` in a temporary directory of its
own; a run that passes has it removed, a failed one keeps it (the scenarios' configs,
logs, databases and FIX stores) and its output under ``--out``:

    python scripts/bench_stress.py --runs 20               # max rate and 1,000/s, both clients
    python scripts/bench_stress.py --rates 0 --clients raw --runs 50 --orders 2000

A shell loop doing the same found the admin token race of 2026-12-02 (a client read the
token file the server had created and not yet written) in 24 runs. It prints one line per
run and a summary, and exits 1 if any run failed. Figures are not its business: use
bench_sweep.py for those.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import product
from pathlib import Path


def run_once(index: int, rate: float, client: str, args: argparse.Namespace) -> bool:
    """One ``bench.py`` run with a temporary directory of its own (``TMPDIR``), so that
    everything the run makes is in it; removed if the run passed, kept if it failed."""
    bench = Path(__file__).resolve().parent / "bench.py"
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-stress-{index:03d}-"))
    done = subprocess.run(
        [sys.executable, str(bench), "--orders", str(args.orders), "--rate", str(rate),
         "--client", client, "--database", args.database, "--no-baseline", "--keep",
         "--json-only"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "TMPDIR": str(scratch)})
    label = f"run {index} rate {rate:g} client {client}"
    passed = done.returncode == 0
    if passed:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        failed = args.out / f"{index:03d}-rate{rate:g}-{client}"
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(scratch), str(failed))  # the scenario directories, logs, stores
        (failed / "stdout.txt").write_text(done.stdout)
        (failed / "stderr.txt").write_text(done.stderr)
        label += f": FAILED (exit {done.returncode}), kept in {failed}"
    print(f"{time.strftime('%H:%M:%S')} {label}", flush=True)
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="rounds of every load x client")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 1000.0],
                        help="orders/s of each load; 0 = max rate")
    parser.add_argument("--clients", nargs="+", default=["sim", "raw"],
                        choices=["sim", "raw"])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--out", type=Path, default=Path("bench-stress-failures"),
                        help="where a failed run's output and directories go")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.orders < 1:
        parser.error("--runs and --orders must be at least 1")
    results = []
    index = 0
    for _ in range(args.runs):
        for rate, client in product(args.rates, args.clients):
            index += 1
            results.append(run_once(index, rate, client, args))
    failed = results.count(False)
    print(f"{len(results)} runs, {failed} failed" + (f" (kept in {args.out})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
