#!/usr/bin/env python3
"""The OMS's own per-order work in one thread, without sockets or other processes.

``oms bench`` measures the whole system: three processes on two CPUs, the FIX engine, the
kernel and the disk; on a shared virtual machine one run moves by +-15% and more (on
2026-12-06 a pure-Python loop here took 35 ms or 65 ms by the minute). This script takes
the part of an order that is the OMS's own code and runs it alone, in the order the server
runs it, for ``--orders`` orders in groups of ``--batch``:

1. translate: the inbound FIX text -> a command (``oms.fix.app``'s translators, as
   ``fromApp`` calls them): the client's NewOrderSingle, then the broker's New and Fill;
2. core: ``Core.process`` of each group (checks, state, the upstream reports and the
   child order, the journal's records), without the journal's commit;
3. journal: ``JournalWriter.write_now`` of each group (rows, the INSERTs, COMMIT) into a
   fresh SQLite file, at ``synchronous = OFF`` unless ``--synchronous full``: the disk's
   flush is not the OMS's CPU, and it is what varies most between machines;
4. build: each outbound message made into a QuickFIX ``Message`` (``refill_message``,
   as ``OmsApplication.send`` does before ``sendToTarget``), not sent.

It prints the CPU time per order of each stage and of all four, and one JSON line. The
garbage collector is off while it measures, as in the server (``oms/gc_policy.py``). It
checks what it did: every order filled, and the journal holding its rows; it exits 1 if
not.

``--callgrind`` runs the same work under valgrind's callgrind twice, with a warm-up only
and with the warm-up plus ``--orders``, and prints the difference in instructions per
order: a count, not a time, the same on a busy machine and a quiet one (``PYTHONHASHSEED``
is fixed for it). Use it to compare two versions of the order path's Python (run each
checkout's own copy of this script); it takes about a minute for 1,000 orders.

    python scripts/bench_path.py                     # 5,000 orders in groups of 10
    python scripts/bench_path.py --batch 1           # a light load: a group per message
    python scripts/bench_path.py --callgrind --orders 1000

It measures the order path's Python, not the system: the FIX engine's own work, the
thread hand-offs and the disk are in ``oms bench`` only (docs/perf/README.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import quickfix  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from oms.app.commands import Command  # noqa: E402
from oms.app.core import CoreSettings  # noqa: E402
from oms.app.ports import OutMessage, Route  # noqa: E402
from oms.app.positions import PositionFeed  # noqa: E402
from oms.app.records import Batch  # noqa: E402
from oms.bootstrap import new_core  # noqa: E402
from oms.domain.ids import Ids  # noqa: E402
from oms.fix import app as fix_app  # noqa: E402
from oms.fix.engine import refill_message, split_fields  # noqa: E402
from oms.portfolio.keeper import PositionKeeper  # noqa: E402
from oms.store.db import make_engine, upgrade  # noqa: E402
from oms.store.journal import JournalWriter  # noqa: E402

CLIENT = "FIX.4.4:OMS->CLIENT1"
BROKER = "FIX.4.4:OMS->BROKER1"
ROLES = {CLIENT: fix_app.UPSTREAM, BROKER: fix_app.BROKER}
STAGES = ("translate", "core", "journal", "build")
CPU = time.thread_time_ns


class _Sender:
    """Builds each message as the server does before sending it, and keeps the child
    orders' ClOrdIDs for the broker's part."""

    def __init__(self, cpu: dict[str, int]) -> None:
        self.cpu = cpu
        self.children: list[str] = []
        self.messages = 0
        self.message = quickfix.Message()  # filled anew per message, as the server does

    def send(self, messages: list[OutMessage]) -> None:
        started = CPU()
        message = self.message
        for out in messages:
            refill_message(message, out.msg_type, out.body())
        self.cpu["build"] += CPU() - started
        self.messages += len(messages)
        for out in messages:
            if out.session == BROKER and out.msg_type == "D":
                self.children.append(out.cl_ord_id)


class _TimedJournal:
    """The real journal, its commits timed (minus the sends its callbacks make)."""

    def __init__(self, journal: JournalWriter, cpu: dict[str, int]) -> None:
        self.journal = journal
        self.cpu = cpu

    def write_now(self, batch: Batch) -> bool:
        build_before = self.cpu["build"]
        started = CPU()
        done = self.journal.write_now(batch)
        self.cpu["journal"] += CPU() - started - (self.cpu["build"] - build_before)
        return done


class _Flow:
    """FIX texts as the engine hands them to ``fromApp``, numbered per session."""

    def __init__(self) -> None:
        self.seq = {CLIENT: 0, BROKER: 0}

    def _text(self, session: str, msg_type: str, body: str) -> str:
        self.seq[session] += 1
        sender = "CLIENT1" if session == CLIENT else "BROKER1"
        return (f"8=FIX.4.4\x019=200\x0135={msg_type}\x0134={self.seq[session]}\x01"
                f"49={sender}\x0152=20261206-14:30:00.000\x0156=OMS\x01{body}\x0110=000\x01")

    def new_order(self, n: int) -> str:
        return self._text(CLIENT, "D", f"11=C{n}\x011=ACC1\x0155=IBM\x0154=1\x01"
                                       f"60=20261206-14:30:00.000\x0138=100\x0140=2\x01"
                                       f"44=101.25\x0159=0")

    def broker_new(self, n: int, child: str) -> str:
        return self._text(BROKER, "8", f"37=B{n}\x0111={child}\x0117=E{n}N\x01150=0\x0139=0\x01"
                                       f"55=IBM\x0154=1\x0138=100\x01151=100\x0114=0\x016=0")

    def broker_fill(self, n: int, child: str) -> str:
        return self._text(BROKER, "8", f"37=B{n}\x0111={child}\x0117=E{n}F\x01150=F\x0139=2\x01"
                                       f"55=IBM\x0154=1\x0138=100\x0132=100\x0131=101.25\x01"
                                       f"151=0\x0114=100\x016=101.25")


def _translate(text: str) -> Command:
    """What ``OmsApplication.fromApp`` does with a message's text."""
    fields = split_fields(text)
    key = f"{fields.get('8')}:{fields.get('56')}->{fields.get('49')}"
    table = fix_app._UPSTREAM if ROLES[key] == fix_app.UPSTREAM else fix_app._BROKER
    return table[fields["35"]](key, fields, text)


def run(orders: int, batch: int, warmup: int, synchronous: str, folder: Path,
        positions: bool = True) -> dict[str, Any]:
    url = f"sqlite:///{folder / 'path.db'}"
    upgrade(url)
    engine = make_engine(url)
    if synchronous != "full":
        @sa.event.listens_for(engine, "connect")
        def _no_flush(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")

        engine.dispose()  # make_engine's own check left a connection made before this

    cpu = dict.fromkeys(STAGES, 0)
    journal = JournalWriter(engine, checkpoint_interval=None)
    sender = _Sender(cpu)
    core = new_core(CoreSettings(), _TimedJournal(journal, cpu),  # type: ignore[arg-type]
                    sender, routes={"SIM": Route("SIM", BROKER)}, default_route="SIM",
                    up=(BROKER, CLIENT), ids=Ids())
    if positions:  # #21: the server keeps positions unless [positions] enabled = false
        PositionFeed(core, PositionKeeper())
    flow = _Flow()

    def group(texts: list[str]) -> None:
        started = CPU()
        commands = [_translate(text) for text in texts]
        cpu["translate"] += CPU() - started
        before = cpu["journal"] + cpu["build"]
        started = CPU()
        core.process(commands)
        cpu["core"] += CPU() - started - (cpu["journal"] + cpu["build"] - before)

    def orders_from(first: int, count: int) -> None:
        for start in range(first, first + count, batch):
            numbers = range(start, min(start + batch, first + count))
            group([flow.new_order(n) for n in numbers])
            children, sender.children = sender.children, []
            pairs = list(zip(numbers, children, strict=True))
            group([flow.broker_new(n, child) for n, child in pairs])
            group([flow.broker_fill(n, child) for n, child in pairs])

    orders_from(0, warmup)
    for stage in STAGES:
        cpu[stage] = 0
    gc.collect()
    gc.disable()
    try:
        started_cpu, started_wall = CPU(), time.perf_counter()
        orders_from(warmup, orders)
        total_cpu, wall = CPU() - started_cpu, time.perf_counter() - started_wall
    finally:
        gc.enable()

    filled = sum(1 for order in core.orders.values() if order.status.value == "2")
    with engine.connect() as connection:
        executions = connection.exec_driver_sql("SELECT count(*) FROM executions").scalar()
        events = connection.exec_driver_sql("SELECT count(*) FROM order_events").scalar()
        stored = connection.exec_driver_sql(
            "SELECT count(*) FROM orders WHERE status = '2'").scalar()
    journal.close_connection()
    engine.dispose()
    total = warmup + orders
    # each order: New and Fill reported upstream; six messages in and out, each journaled
    ok = filled == stored == total and executions == 2 * total and events == 6 * total
    per = max(orders, 1)  # 0 orders: the warm-up alone, the baseline of --callgrind
    per_order = {stage: round(cpu[stage] / per / 1000, 1) for stage in STAGES}
    return {
        "bench": "path", "orders": orders, "batch": batch, "warmup": warmup,
        "synchronous": synchronous, "python": sys.version.split()[0],
        "cpu_us_per_order": round(total_cpu / per / 1000, 1),
        "stage_cpu_us_per_order": per_order,
        "wall_us_per_order": round(wall / per * 1e6, 1),
        "commits": journal.commits,
        "checked": {"filled": filled, "stored_filled": stored, "executions": executions,
                    "events": events, "expected_orders": total, "ok": ok},
    }


def callgrind(args: argparse.Namespace) -> dict[str, Any]:
    """Instructions per order: two runs under callgrind, the difference over --orders."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("error: --callgrind needs valgrind on PATH (Debian: apt install "
                         "valgrind)")
    env = dict(os.environ, PYTHONHASHSEED="0")
    counts = []
    with tempfile.TemporaryDirectory(prefix="oms-path-cg-") as tmp:
        for orders in (0, args.orders):
            out = Path(tmp) / f"callgrind.{orders}"
            command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}",
                       sys.executable, str(Path(__file__).resolve()), "--json-only",
                       "--orders", str(orders), "--batch", str(args.batch),
                       "--warmup", str(args.warmup), "--synchronous", args.synchronous,
                       *([] if args.positions else ["--no-positions"])]
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  check=False)
            if done.returncode != 0:
                sys.stderr.write(done.stdout + done.stderr)
                raise SystemExit(f"error: the run of {orders} orders under callgrind failed "
                                 f"(exit {done.returncode})")
            match = re.search(r"^summary:\s*(\d+)", out.read_text(), re.MULTILINE)
            if match is None:
                raise SystemExit(f"error: no instruction count in {out.name}")
            counts.append(int(match.group(1)))
    per_order = (counts[1] - counts[0]) / args.orders
    return {"bench": "path-callgrind", "orders": args.orders, "batch": args.batch,
            "warmup": args.warmup, "synchronous": args.synchronous,
            "python": sys.version.split()[0], "instructions": counts,
            "instructions_per_order": round(per_order)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000,
                        help="orders measured (default 5,000; 1,000 is plenty with "
                             "--callgrind)")
    parser.add_argument("--batch", type=int, default=10,
                        help="orders per group: each group is three batches, their "
                             "NewOrderSingles, the broker's News, the broker's Fills "
                             "(default 10, as at max rate)")
    parser.add_argument("--warmup", type=int, default=300, help="orders first, not counted")
    parser.add_argument("--synchronous", choices=("off", "normal", "full"), default="off",
                        help="SQLite's synchronous setting (default off: no disk flush)")
    parser.add_argument("--no-positions", dest="positions", action="store_false",
                        help="without the position keeper (#21; the server keeps positions "
                             "unless [positions] enabled = false)")
    parser.add_argument("--callgrind", action="store_true",
                        help="count instructions per order under valgrind instead")
    parser.add_argument("--json-only", action="store_true", help="print the JSON line only")
    args = parser.parse_args(argv)
    if args.orders < 0 or (args.orders == 0 and not args.json_only) or args.batch < 1 \
            or args.warmup < 0:
        parser.error("--orders must be positive, --batch at least 1, --warmup at least 0")
    if args.callgrind:
        if args.orders < 1:
            parser.error("--callgrind needs --orders of at least 1")
        result = callgrind(args)
        if not args.json_only:
            print(f"{result['instructions_per_order']:,} instructions per order "
                  f"({args.orders:,} orders in groups of {args.batch}, "
                  f"synchronous={args.synchronous}, under callgrind)")
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory(prefix="oms-path-") as tmp:
        result = run(args.orders, args.batch, args.warmup, args.synchronous, Path(tmp),
                     args.positions)
    if not args.json_only:
        stages = result["stage_cpu_us_per_order"]
        print(f"{args.orders:,} orders in groups of {args.batch}, SQLite "
              f"synchronous={args.synchronous}: CPU us per order")
        print("| " + " | ".join(STAGES) + " | all |")
        print("|" + "---|" * (len(STAGES) + 1))
        print("| " + " | ".join(f"{stages[s]:.1f}" for s in STAGES)
              + f" | {result['cpu_us_per_order']:.1f} |")
    print(json.dumps(result))
    if not result["checked"]["ok"]:
        print(f"error: the journal does not hold what the orders did: {result['checked']}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
