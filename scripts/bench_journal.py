#!/usr/bin/env python3
"""Time the SQLite journal's group commit alone, at the shapes of a light load.

At 1,000 orders/s and below most group commits carry one message: a NewOrderSingle (an
order row, its inbound and outbound audit rows, a sequence number), a broker's New or its
Fill (the same plus an execution). This script writes such groups through the OMS's own
``JournalWriter.write_now`` into a fresh database per page size, after preloading orders
so the B-trees have depth, and prints the wall time and the calling thread's CPU time
(user + kernel, so ``fdatasync``'s share is in it) of each commit:

    python scripts/bench_journal.py                          # 4096- and 1024-byte pages
    python scripts/bench_journal.py --page-size 1024 --runs 5 --orders 2000
    python scripts/bench_journal.py --phases                 # where a commit's CPU goes

``--phases`` writes the same groups with the journal's own statements and rows
(``RowWriter``, one table at a time) on a plain ``sqlite3`` connection, at
``synchronous = FULL`` (the server's) and at ``NORMAL`` (no sync at COMMIT, in WAL mode), and
prints the median CPU of each part of a commit: the difference of the two COMMITs is what
the ``fdatasync`` costs the committing thread.

It measures the journal, not the OMS: no FIX, no other process (#3, docs/perf/README.md).
Nothing here judges the figures.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oms.app.records import (  # noqa: E402
    Batch,
    ChildSnapshot,
    EventRecord,
    ExecutionRecord,
    OrderSnapshot,
)
from oms.percentiles import percentiles  # noqa: E402
from oms.store import JournalWriter, make_engine, schema, upgrade  # noqa: E402
from oms.store.fastwrite import RowWriter  # noqa: E402
from oms.store.journal import group_of  # noqa: E402

CLIENT, BROKER = "FIX.4.4:OMS->CLIENT1", "FIX.4.4:OMS->BROKER1"
BODY = ("8=FIX.4.4|9=200|35=8|34=123|49=BROKER1|56=OMS|52=20261201-21:00:00.000|37=B1|"
        "11=K1|17=BE1|150=F|39=2|55=IBM|54=1|38=100|32=100|31=10.25|14=100|151=0|6=10.25|"
        "10=123|")


def _order(n: int, status: str, version: int, now: datetime) -> OrderSnapshot:
    filled = status == "2"
    return OrderSnapshot(
        order_id=f"O{n:09d}", session=CLIENT, cl_ord_id=f"C{n}", orig_cl_ord_id="",
        symbol="IBM", side="1", ord_type="2", time_in_force="0", order_qty=Decimal("100"),
        price=Decimal("10.25"), stop_px=None, account="ACC1", ex_destination="",
        status=status, cum_qty=Decimal("100") if filled else Decimal("0"),
        leaves_qty=Decimal("0") if filled else Decimal("100"), avg_px=Decimal("10.25"),
        notional=Decimal("1025.00"), accepted=True, text="", version=version,
        created_at=now, updated_at=now)


def _child(n: int, now: datetime) -> ChildSnapshot:
    """The child row the NewOrderSingle's group writes (the broker's New writes none)."""
    return ChildSnapshot(
        child_id=f"K{n:09d}", order_id=f"O{n:09d}", route="BROKER1", session=BROKER,
        cl_ord_id=f"K{n:09d}", prior_cl_ord_ids="", broker_order_id="",
        order_qty=Decimal("100"), pending="", version=0, created_at=now, updated_at=now)


def _execution(n: int, exec_type: str, now: datetime) -> ExecutionRecord:
    return ExecutionRecord(
        exec_id=f"E{n}-{exec_type}", order_id=f"O{n:09d}", exec_type=exec_type,
        ord_status="2" if exec_type == "F" else "0", last_qty=Decimal("100"),
        last_px=Decimal("10.25"), cum_qty=Decimal("100"), leaves_qty=Decimal("0"),
        avg_px=Decimal("10.25"), exec_ref_id="", broker_session=BROKER,
        broker_exec_id=f"X{n}-{exec_type}", transact_time=now, child_id=f"K{n:09d}",
        broker_order_id=f"B{n}")


def _events(n: int, session: str, now: datetime) -> list[EventRecord]:
    return [EventRecord(now, "in", f"O{n:09d}", session, "8", BODY),
            EventRecord(now, "out", f"O{n:09d}", session, "8", BODY, outbox_seq=n)]


def groups_of_one_order(n: int) -> list[Batch]:
    """The three one-message groups of order ``n``: its NewOrderSingle, New, Fill."""
    now = datetime.now(UTC)
    return [
        Batch(orders={f"O{n:09d}": _order(n, "A", 1, now)},
              children={f"K{n:09d}": _child(n, now)}, events=_events(n, CLIENT, now),
              inbound_seqs={CLIENT: n}, outbound={BROKER: n}, out_sent={CLIENT: n}),
        Batch(orders={f"O{n:09d}": _order(n, "0", 2, now)},
              executions=[_execution(n, "0", now)], events=_events(n, BROKER, now),
              inbound_seqs={BROKER: 2 * n}, outbound={CLIENT: 2 * n}, out_sent={BROKER: n}),
        Batch(orders={f"O{n:09d}": _order(n, "2", 3, now)},
              executions=[_execution(n, "F", now)], events=_events(n, BROKER, now),
              inbound_seqs={BROKER: 2 * n + 1}, outbound={CLIENT: 2 * n + 1},
              out_sent={CLIENT: 2 * n}),
    ]


def _new_database(path: Path, page_size: int) -> None:
    """A new SQLite file with ``page_size`` and WAL, made before the OMS's first connection
    (which keeps an existing size) migrates it."""
    made = sqlite3.connect(path)
    made.execute(f"PRAGMA page_size = {page_size}")
    made.execute("PRAGMA journal_mode = WAL")
    made.close()


def run(page_size: int, orders: int, preload: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="oms-bench-journal-") as directory:
        path = Path(directory) / "journal.db"
        _new_database(path, page_size)
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as connection:
            actual = connection.exec_driver_sql("PRAGMA page_size").scalar()
        writer = JournalWriter(engine)
        if writer.checkpointer is not None:  # as the server runs it (its commits are inline)
            writer.checkpointer.start()
        try:
            for n in range(preload):
                for group in groups_of_one_order(n):
                    writer.write_now(group)
            walls: list[float] = []
            cpus: list[float] = []
            for n in range(preload, preload + orders):
                for group in groups_of_one_order(n):
                    started, cpu = time.perf_counter(), time.thread_time()
                    writer.write_now(group)
                    cpus.append(time.thread_time() - cpu)
                    walls.append(time.perf_counter() - started)
        finally:
            writer.close_connection()
            writer.stop(timeout=5.0)
            engine.dispose()
    wall = percentiles(walls, scale=1e3, digits=3)
    cpu = percentiles(cpus, scale=1e6, digits=0)
    return {"page_size": float(actual or 0), "commits": float(len(walls)),
            "wall_p50_ms": float(wall["p50"]), "wall_p99_ms": float(wall["p99"]),
            "cpu_p50_us": float(cpu["p50"])}


PHASES = ("BEGIN", "orders", "executions", "audit rows", "sequence numbers", "COMMIT")


def run_phases(synchronous: str, page_size: int, orders: int, preload: int
               ) -> dict[str, float]:
    """Median CPU (us) of each part of a one-message commit; see the module doc."""
    with tempfile.TemporaryDirectory(prefix="oms-bench-journal-") as directory:
        path = Path(directory) / "journal.db"
        _new_database(path, page_size)
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute(f"PRAGMA synchronous = {synchronous}")
            cursor = connection.cursor()
            rows = RowWriter("sqlite")

            def write(table: sa.Table) -> Callable[[Any], object]:
                writer = rows.table(table.name)
                return lambda g: g.of(table) and writer.write(cursor, g.of(table))

            steps: dict[str, Callable[[Any], object]] = {
                "BEGIN": lambda _: cursor.execute("BEGIN IMMEDIATE"),
                "orders": write(schema.orders),
                "executions": write(schema.executions),
                "audit rows": write(schema.order_events),
                "sequence numbers": write(schema.fix_sessions),
                "COMMIT": lambda _: cursor.execute("COMMIT"),
            }
            assert tuple(steps) == PHASES
            samples: dict[str, list[float]] = {phase: [] for phase in PHASES}
            clock = time.thread_time
            for n in range(preload + orders):
                for batch in groups_of_one_order(n):
                    group = group_of(batch)
                    for phase, step in steps.items():
                        started = clock()
                        step(group)
                        spent = clock() - started
                        # a NewOrderSingle's group has no execution to time
                        if n >= preload and (phase != "executions" or group.of(schema.executions)):
                            samples[phase].append(spent)
        finally:
            connection.close()
    return {phase: float(percentiles(values, scale=1e6, digits=1)["p50"])
            for phase, values in samples.items()}


def print_phases(page_size: int, orders: int, preload: int) -> None:
    modes = ("FULL", "NORMAL")
    figures = {mode: run_phases(mode, page_size, orders, preload) for mode in modes}
    print(f"one-message commits, {page_size}-byte pages: median CPU us of each part")
    print(f"{'part':>18} " + " ".join(f"{mode:>8}" for mode in modes))
    for phase in PHASES:
        print(f"{phase:>18} " + " ".join(f"{figures[mode][phase]:>8.1f}" for mode in modes))
    sync = figures["FULL"]["COMMIT"] - figures["NORMAL"]["COMMIT"]
    print(f"the fdatasync at COMMIT (FULL - NORMAL): {sync:.1f} us of CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page-size", type=int, nargs="+", default=[4096, 1024])
    parser.add_argument("--orders", type=int, default=1000, help="orders measured per run")
    parser.add_argument("--preload", type=int, default=20000, help="orders written first")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--phases", action="store_true",
                        help="the CPU of each part of a commit, at FULL and NORMAL")
    args = parser.parse_args()
    if args.phases:
        for page_size in args.page_size:
            print_phases(page_size, args.orders, args.preload)
        return 0
    print(f"{'page':>6} {'run':>4} {'commits':>8} {'wall p50 ms':>12} {'wall p99 ms':>12} "
          f"{'CPU p50 us':>11}")
    for page_size in args.page_size:
        for number in range(1, args.runs + 1):
            figures = run(page_size, args.orders, args.preload)
            print(f"{figures['page_size']:>6.0f} {number:>4} {figures['commits']:>8.0f} "
                  f"{figures['wall_p50_ms']:>12.3f} {figures['wall_p99_ms']:>12.3f} "
                  f"{figures['cpu_p50_us']:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
