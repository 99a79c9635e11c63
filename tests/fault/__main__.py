"""The crash suite's long form, by one command:

    python -m tests.fault --kills 50 --orders 6000 --rate 300 --database both

Prints one ledger line per database (and, on a disagreement, the first orders that disagree
with their three views); exits 1 on any disagreement, 2 when the harness itself could not
run. PostgreSQL comes from ``OMS_TEST_DATABASE_URL`` (default: the local test database), in
a fresh schema dropped afterwards; each run works in a temporary directory, kept with
``--keep`` (or when the run fails) for its logs and FIX stores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from oms.localproc import sigterm_unwinds
from tests.databases import postgres_schema
from tests.fault.harness import (
    DEFAULT_POSTGRES_URL,
    CrashOptions,
    CrashReport,
    HarnessError,
    run_crash_suite,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fault", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = CrashOptions()
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=defaults.rate)
    parser.add_argument("--replace-cancel-ratio", type=float,
                        default=defaults.replace_cancel_ratio)
    parser.add_argument("--cancel-ratio", type=float, default=defaults.cancel_ratio)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url",
                        default=os.environ.get("OMS_TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL)
    parser.add_argument("--show", type=int, default=5, help="disagreeing orders to print")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    parser.add_argument("--broker-reset", action="store_true",
                        help="the broker session restarts sequence numbers at every logon")
    args = parser.parse_args(argv)
    options = CrashOptions(kills=args.kills, orders=args.orders, rate=args.rate,
                           replace_cancel_ratio=args.replace_cancel_ratio,
                           cancel_ratio=args.cancel_ratio, seed=args.seed,
                           broker_reset=args.broker_reset)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    status = 0
    with sigterm_unwinds():
        for database in databases:
            try:
                report = _run(database, options, args.postgres_url, args.keep)
            except HarnessError as exc:
                print(f"crash suite: {database}: the harness could not run: {exc}",
                      flush=True)
                status = max(status, 2)
                continue
            if report.failures():
                print(report.describe(args.show), flush=True)
                status = max(status, 1)
            else:
                print(f"{report.ledger_line()} ({report.seconds}s)", flush=True)
    return status


def _run(database: str, options: CrashOptions, postgres_url: str, keep: bool) -> CrashReport:
    folder = Path(tempfile.mkdtemp(prefix=f"oms-fault-{database}-"))
    report = None
    try:
        if database == "sqlite":
            report = run_crash_suite(folder, f"sqlite:///{folder / 'oms.db'}", options)
        else:
            with postgres_schema(postgres_url, "oms_fault") as url:
                report = run_crash_suite(folder, url, options)
        return report
    finally:
        if not keep and report is not None and not report.failures():
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
