"""The crash suite's harness: stream orders through ``oms serve``, ``kill -9`` it again and
again, then audit three ledgers order by order.

One run (``run_crash_suite``): the broker simulator (in this process, paced partial fills so
orders stay working for a while), the real ``oms serve`` in a subprocess (``Stack``, free
ports, a temporary directory) and the upstream client (in this process) streaming orders at
a rate that keeps a backlog, a share replaced then canceled and a share canceled. At seeded
points of the stream the server is SIGKILLed and started again; the stream pauses while the
client or the broker is logged off. After the last restart the harness waits, bounded, until
the client has every order final (or nothing has moved for a while), stops the server
politely and compares:

* the client's record (``UpstreamClient.record``): what reached the client;
* the blotter (the database: ``orders`` and ``executions``): what the OMS committed;
* the broker's book (``BrokerSimulator.book``): what reached the broker and what it sent.

The checks: every order the client sent was acknowledged (ExecType New or Rejected) and is
final upstream (Filled, Canceled, Rejected, Expired) with no cancel/replace unanswered; per
order, client CumQty == sum of the client's LastQty == blotter CumQty == broker CumQty, the
final OrdStatus agrees with the blotter's, and the blotter's order is done when the
broker's is; every broker fill reached the client exactly once (through the blotter's
booking of its ExecID); no ExecID twice at the client without PossDup; no broker ExecID booked twice; no child ClOrdID in two messages to the broker; no
broker order the blotter does not know; the blotter's own fill consistency
(``repository.order_fill_consistency``). Nothing here is timed: waits are bounded so a run
ends, and a wait that runs out only means the ledgers are compared as they are.

What it does not do: kill the broker simulator or the client (they keep their state; only
the OMS crashes), or send status requests for orders left hanging: a client left without an
answer is exactly what the audit must see.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from oms.localproc import stop_process
from oms.sim.broker import BrokerSimulator
from oms.sim.client import UpstreamClient
from oms.store import repository
from oms.store.db import make_engine
from oms.store.schema import executions
from tests.integration.stack import Stack

TERMINAL = frozenset({"2", "4", "8", "C"})  # Filled, Canceled, Rejected, Expired
ZERO = Decimal(0)
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class HarnessError(RuntimeError):
    """The harness itself could not go on (a server that does not come back, a session
    that never logs on): not a disagreement between the ledgers."""


@dataclass(frozen=True)
class CrashOptions:
    """One run's shape; the defaults are the short form's."""

    kills: int = 10
    orders: int = 3000
    rate: float = 300.0  # orders per second while the client and the broker are logged on
    replace_cancel_ratio: float = 0.10  # replaced once acked, then canceled (the 10%)
    cancel_ratio: float = 0.05  # canceled once acked
    seed: int = 1
    partial_fills: int = 3  # the broker fills each order in this many fills ...
    fill_interval: float = 0.2  # ... this many seconds apart
    max_downtime: float = 0.5  # the server stays dead a random 0 to this many seconds
    restart_timeout: float = 30.0  # bound on the server's restart and both logons
    final_wait: float = 90.0  # bound on waiting for every order to be final at the end
    quiet: float = 8.0  # the final wait also ends when nothing has moved this long
    # the broker session restarts sequence numbers at every logon: nothing is resent either
    # way, and what happened during an outage comes from status queries (#16)
    broker_reset: bool = False


@dataclass
class Disagreement:
    """One client order whose three views do not agree, with the three views."""

    cl_ord_id: str
    problems: list[str]
    client: dict[str, Any]
    blotter: dict[str, Any] | None
    broker: dict[str, Any] | None

    def describe(self) -> str:
        client = {k: v for k, v in self.client.items() if k != "reports"}
        lines = [f"order {self.cl_ord_id}: {'; '.join(self.problems)}",
                 f"    client : {client}",
                 f"    reports: {self.client.get('reports')}",
                 f"    blotter: {self.blotter}",
                 f"    broker : {self.broker}"]
        return "\n".join(lines)


@dataclass
class CrashReport:
    """What a run found; ``failures()`` is empty when the three ledgers agree."""

    database: str
    kills: int = 0
    orders: int = 0
    acked: int = 0
    final: int = 0
    fills_client: int = 0
    fills_blotter: int = 0
    fills_broker: int = 0
    lost: int = 0
    doubled: int = 0
    inferred: int = 0  # blotter fills inferred from status answers (a broker that resets)
    children_sent_twice: int = 0
    unacknowledged: int = 0
    orphan_children: int = 0  # broker orders the blotter has no row for
    protocol_errors: int = 0
    fill_inconsistencies: list[dict[str, Any]] = field(default_factory=list)
    # #21: positions that are not those the fills make, after the run or at a restart
    position_differences: list[str] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # global findings, one sentence each
    seconds: float = 0.0
    folder: Path | None = None

    def ledger_line(self) -> str:
        return (f"crash suite: {self.database} {self.kills} kills, {self.orders} orders, "
                f"acked {self.acked}, final {self.final}, fills client {self.fills_client} "
                f"blotter {self.fills_blotter} broker {self.fills_broker}"
                f"{f' (inferred {self.inferred})' if self.inferred else ''}, lost {self.lost}, "
                f"doubled {self.doubled}, children sent twice {self.children_sent_twice}, "
                f"unacknowledged {self.unacknowledged}, "
                f"orders disagreeing {len(self.disagreements)}")

    def failures(self) -> list[str]:
        found = []
        if self.final != self.orders:
            found.append(f"{self.orders - self.final} orders not final upstream")
        for name in ("lost", "doubled", "children_sent_twice", "unacknowledged",
                     "orphan_children", "protocol_errors"):
            if getattr(self, name):
                found.append(f"{name.replace('_', ' ')}: {getattr(self, name)}")
        if self.fill_inconsistencies:
            found.append(f"blotter fill consistency: {len(self.fill_inconsistencies)} orders")
        if self.position_differences:
            found.append(f"positions not those of the fills: {self.position_differences[:3]}")
        if self.disagreements:
            found.append(f"{len(self.disagreements)} orders disagree")
        return found

    def describe(self, first: int = 5) -> str:
        lines = [self.ledger_line()]
        lines += [f"  {failure}" for failure in self.failures()]
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  blotter: {row}" for row in self.fill_inconsistencies[:first]]
        lines += [d.describe() for d in self.disagreements[:first]]
        if self.folder is not None:
            lines.append(f"  logs and FIX stores: {self.folder}")
        return "\n".join(lines)


def database_label(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"


# --- the run ------------------------------------------------------------------------------

def run_crash_suite(folder: Path, database_url: str,
                    options: CrashOptions | None = None) -> CrashReport:
    """One run on ``database_url`` in ``folder``; everything it starts is stopped again."""
    options = options or CrashOptions()
    started = time.monotonic()
    report = CrashReport(database_label(database_url), folder=folder)
    stack = Stack(folder, database_url, broker_reset=options.broker_reset, broker_options={
        "fill_mode": "partial", "partial_fills": options.partial_fills,
        "fill_interval": options.fill_interval, "seed": options.seed})
    stream: _Stream | None = None
    try:
        broker = stack.start_broker()
        _start_server(stack, options.restart_timeout)
        client = stack.client(seed=options.seed, timeout=options.final_wait)
        stream = _Stream(client, broker, options)
        stream.start()
        for kill_at in _kill_points(options):
            _wait(lambda at=kill_at: stream.sent >= at or stream.finished,  # type: ignore[misc]
                  options.restart_timeout + options.orders / options.rate,
                  f"the stream to reach order {kill_at}")
            _kill_server(stack, client, broker)
            report.kills += 1
            time.sleep(stream.rng.uniform(0, options.max_downtime))
            _start_server(stack, options.restart_timeout)
        stream.join(options.restart_timeout + options.orders / options.rate)
        _wait_final(client, broker, options)
        stop_process(stack.process)  # politely: the blotter is read after a clean stop
        stack.process = None
        audit(read_ledgers(client, broker, database_url), report,
              status_fills=options.broker_reset)
        report.position_differences = positions_check(stack, database_url)
    finally:
        if stream is not None:
            stream.stop()
        stop_process(stack.process)
        stack.process = None
        stack.stop()
        report.seconds = round(time.monotonic() - started, 1)
    return report


def _kill_points(options: CrashOptions) -> list[int]:
    """One kill in each of ``kills`` equal stretches of the stream (5% to 95% of it), at a
    seeded random order count inside the stretch: spread out, never two at once."""
    rng = random.Random(options.seed)
    low, high = options.orders * 0.05, options.orders * 0.95
    width = (high - low) / max(options.kills, 1)
    return [int(low + width * (index + rng.random())) for index in range(options.kills)]


class _Stream(threading.Thread):
    """Sends ``orders`` orders at ``rate`` while both sessions are logged on; pauses (and
    restarts its pacing) while either is down, as a client that knows its session is gone."""

    def __init__(self, client: UpstreamClient, broker: BrokerSimulator,
                 options: CrashOptions) -> None:
        super().__init__(name="crash-suite-stream", daemon=True)
        self.client, self.broker, self.options = client, broker, options
        self.rng = random.Random(options.seed + 1)
        self.sent = 0
        self.finished = False
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def plan(self) -> dict[int, str]:
        count = self.options.orders
        both = round(count * self.options.replace_cancel_ratio)
        cancels = round(count * self.options.cancel_ratio)
        chosen = random.Random(self.options.seed + 2).sample(range(count), both + cancels)
        plan = dict.fromkeys(chosen[:both], "replace_cancel")
        plan.update(dict.fromkeys(chosen[both:], "cancel"))
        return plan

    def run(self) -> None:
        try:
            plan = self.plan()
            origin: tuple[float, int] | None = None
            while self.sent < self.options.orders and not self._stop_event.is_set():
                if not (self.client.is_logged_on() and self.broker.logged_on()):
                    origin = None
                    self._stop_event.wait(0.01)
                    continue
                if origin is None:
                    origin = (time.monotonic(), self.sent)
                due = origin[0] + (self.sent - origin[1]) / self.options.rate
                delay = due - time.monotonic()
                if delay > 0:
                    self._stop_event.wait(delay)
                self.client.send_order(follow_up=plan.get(self.sent))
                self.sent += 1
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.finished = True

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.is_alive():
            raise HarnessError(f"the stream did not finish within {timeout}s "
                               f"({self.sent} of {self.options.orders} sent)")
        if self.error is not None:
            raise HarnessError(f"the stream failed: {self.error!r}") from self.error

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            super().join(5)


def _wait(predicate: Any, timeout: float, what: str, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise HarnessError(f"waited {timeout:.0f}s for {what}")
        time.sleep(step)


def _start_server(stack: Stack, timeout: float) -> None:
    """``oms serve`` started, and both its sessions logged on (the client's and the
    broker's), so a kill always lands on a server that had finished its logons."""
    stack.start_oms_process()
    _wait(lambda: stack.broker is not None and bool(stack.broker.logged_on()), timeout,
          "the OMS to log on to the broker")
    if stack.clients:
        _wait(stack.clients[0].is_logged_on, timeout, "the client to log on to the OMS")


def _kill_server(stack: Stack, client: UpstreamClient, broker: BrokerSimulator) -> None:
    process = stack.process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    stack.process = None
    # the counterparties must have seen the connection go before the next start is judged
    # by their logons
    _wait(lambda: not client.is_logged_on() and not broker.logged_on(), 15,
          "the client and the broker to see the OMS gone")


def _wait_final(client: UpstreamClient, broker: BrokerSimulator, options: CrashOptions) -> None:
    """Until the client has every order final and every request answered; or until nothing
    has reached the client or the broker for ``quiet`` s; at most ``final_wait`` s."""
    deadline = time.monotonic() + options.final_wait
    last_progress, last_change = None, time.monotonic()
    while not client.wait_done(0.25):
        now = time.monotonic()
        counters = broker.counters
        progress = (len(client.received), counters.orders_received, counters.fills_sent,
                    counters.cancels_received, counters.replaces_received,
                    counters.status_requests)
        if progress != last_progress:
            last_progress, last_change = progress, now
        if now - last_change > options.quiet or now > deadline:
            return


# --- the audit ----------------------------------------------------------------------------

@dataclass
class Ledgers:
    """The three views as plain data, read once everything has stopped moving."""

    client: dict[str, dict[str, Any]]  # UpstreamClient.record()
    client_counts: dict[str, Any]  # protocol_errors, protocol_error_samples, duplicate_exec_ids
    blotter_orders: list[dict[str, Any]]  # repository.list_orders(status="all")
    blotter_executions: list[dict[str, Any]]  # fill executions (F, G, H) in seq order
    blotter_inconsistencies: list[dict[str, Any]]  # repository.order_fill_consistency
    broker: dict[str, Any]  # BrokerSimulator.book()


def read_ledgers(client: UpstreamClient, broker: BrokerSimulator,
                 database_url: str) -> Ledgers:
    counts = {"protocol_errors": client.protocol_errors,
              "protocol_error_samples": list(client.protocol_error_samples),
              "duplicate_exec_ids": client.duplicate_exec_ids}
    engine = make_engine(database_url)
    try:
        rows = repository.list_orders(engine, status="all")
        e = executions.c
        with engine.connect() as connection:
            execs = [dict(r) for r in connection.execute(
                sa.select(e.order_id, e.exec_id, e.exec_type, e.last_qty, e.last_px,
                          e.broker_exec_id).where(e.exec_type.in_(("F", "G", "H")))
                .order_by(e.seq)).mappings()]
        inconsistencies = repository.order_fill_consistency(engine)
    finally:
        engine.dispose()
    return Ledgers(client.record(), counts, rows, execs, inconsistencies, broker.book())


def positions_check(stack: Stack, database_url: str) -> list[str]:
    """#21: the stored positions against those the fills rebuild (``oms positions
    verify``), and each difference a restart found between the two (the server logs it):
    a position row commits with its fill, so a kill never leaves them apart."""
    from oms.bootstrap import position_differences, rebuilt_keeper
    from oms.store import positions as position_store

    engine = make_engine(database_url)
    try:
        keeper, problems = rebuilt_keeper(stack.config, engine)
        found = problems + position_differences(keeper.rows(),
                                                position_store.load_positions(engine))
    finally:
        engine.dispose()
    log = stack.folder / "oms.log"
    if log.exists():
        found += [line.strip() for line in log.read_text(errors="replace").splitlines()
                  if "positions: " in line and ("the fills win" in line or "ERROR" in line)]
    return found


def audit(ledgers: Ledgers, report: CrashReport, *, status_fills: bool = False) -> None:
    """Compare the three ledgers order by order; fill in ``report``'s counts, notes and
    disagreements (the module doc lists the checks). ``status_fills``: the broker session
    resets at logon, so broker fills of an outage may reach the blotter only as fills
    inferred from status answers, which must add up to them exactly."""
    record, book = ledgers.client, ledgers.broker
    rows, execs = ledgers.blotter_orders, ledgers.blotter_executions
    report.fill_inconsistencies = ledgers.blotter_inconsistencies
    protocol_errors = ledgers.client_counts["protocol_errors"]
    duplicate_exec_ids = ledgers.client_counts["duplicate_exec_ids"]

    # the blotter, indexed by OrderID and by every upstream ClOrdID its rows carry
    row_by_id = {row["order_id"]: row for row in rows}
    row_by_cl_ord_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        for cl_ord_id in (row["cl_ord_id"], row["orig_cl_ord_id"]):
            if cl_ord_id:
                row_by_cl_ord_id.setdefault(cl_ord_id, row)
    execs_by_order: dict[str, list[dict[str, Any]]] = {}
    for execution in execs:
        execs_by_order.setdefault(execution["order_id"], []).append(execution)
    booked = Counter(x["broker_exec_id"] for x in execs if x["broker_exec_id"])
    ours_by_broker_exec: dict[str, list[str]] = {}  # a broker ExecID -> our ExecIDs for it
    for execution in execs:
        if execution["broker_exec_id"]:
            ours_by_broker_exec.setdefault(execution["broker_exec_id"], []).append(
                execution["exec_id"])
    our_exec_ids = {x["exec_id"] for x in execs}

    # the broker's book, its orders indexed by every child ClOrdID (an accepted order first)
    broker_orders: dict[str, dict[str, Any]] = book["orders"]
    broker_by_child: dict[str, str] = {}
    for order_id, order in sorted(broker_orders.items(), key=lambda kv: kv[1]["status"] == "8"):
        for child in order["cl_ord_ids"]:
            broker_by_child.setdefault(child, order_id)

    client_exec_ids = Counter(exec_id for order in record.values() for exec_id, _, _ in
                              order["fills"])
    report.orders = len(record)
    report.fills_client = sum(client_exec_ids.values())
    report.fills_blotter = sum(1 for x in execs if x["exec_type"] == "F")
    report.fills_broker = sum(len(order["fills"]) for order in broker_orders.values())
    report.children_sent_twice = sum(1 for kinds in book["children"].values()
                                     if sum(kinds.values()) > 1)
    report.protocol_errors = protocol_errors
    doubled_booking = sum(count - 1 for count in booked.values() if count > 1)
    doubled_at_client = sum(count - 1 for count in client_exec_ids.values() if count > 1)
    report.doubled = duplicate_exec_ids + doubled_booking + doubled_at_client
    if duplicate_exec_ids:
        report.notes.append(f"{duplicate_exec_ids} ExecIDs reached the client twice "
                            "without PossDup/PossResend")
    if doubled_booking:
        report.notes.append(f"{doubled_booking} broker ExecIDs booked twice in the blotter")
    twice = [(c, k) for c, k in book["children"].items() if sum(k.values()) > 1]
    if twice:
        report.notes.append(f"children sent twice, e.g. {twice[:5]}")
    if protocol_errors:
        report.notes.append(f"client protocol errors, e.g. "
                            f"{ledgers.client_counts['protocol_error_samples'][:5]}")

    seen_rows: set[str] = set()
    for first_cl_ord_id, view in record.items():
        problems: list[str] = []
        row = row_by_id.get(view["order_id"] or "")
        if row is None:
            row = next((row_by_cl_ord_id[c] for c in view["cl_ord_ids"]
                        if c in row_by_cl_ord_id), None)
        broker_id = None
        if row is not None:
            seen_rows.add(row["order_id"])
            broker_id = row["broker_order_id"] if row["broker_order_id"] in broker_orders \
                else broker_by_child.get(row["child_cl_ord_id"])
        broker = broker_orders.get(broker_id or "")

        if view["acks"] == 0:
            report.unacknowledged += 1
            problems.append("never acknowledged upstream (no ExecType New or Rejected)"
                            if view["received"] else "no answer upstream at all")
        else:
            report.acked += 1
        if view["status"] in TERMINAL and not view["unanswered"]:
            report.final += 1
        else:
            problems.append(f"not final upstream (OrdStatus {view['status']}"
                            f"{', requests unanswered' if view['unanswered'] else ''})")
        if row is None:
            problems.append("not in the blotter")
        elif view["status"] in TERMINAL and row["status"] != view["status"]:
            problems.append(f"OrdStatus client {view['status']} blotter {row['status']}")

        if row is not None and broker is not None and broker["status"] in TERMINAL \
                and row["status"] not in TERMINAL:
            problems.append(f"blotter OrdStatus {row['status']} but the broker's order is "
                            f"done ({broker['status']})")

        blotter_cum = row["cum_qty"] if row is not None else None
        broker_cum = broker["cum_qty"] if broker is not None else ZERO
        quantities = {view["cum_qty"], view["fills_qty"], blotter_cum, broker_cum}
        if len(quantities) != 1:
            problems.append(f"CumQty client {view['cum_qty']} (sum of LastQty "
                            f"{view['fills_qty']}) blotter {blotter_cum} broker {broker_cum}")

        # fill by fill: each broker fill booked once and passed on to the client once
        mine = {exec_id for exec_id, _, _ in view["fills"]}
        lost, twice = [], []
        unbooked: list[tuple[str, Decimal]] = []
        for broker_exec_id, qty, _ in (broker["fills"] if broker is not None else []):
            ours = ours_by_broker_exec.get(broker_exec_id, [])
            if len(ours) > 1:
                twice.append(f"{broker_exec_id} as {', '.join(ours)}")
            if not ours and status_fills:
                unbooked.append((broker_exec_id, qty))
            elif not mine.intersection(ours):
                lost.append(f"{broker_exec_id} ({qty}) "
                            f"{f'booked as {ours[0]}' if ours else 'never booked'}")
        if status_fills and row is not None:
            # #16: after a reset no resend brings the broker's reports of an outage; a
            # status answer books what they filled as fills of ours with no broker ExecID.
            # Together they must be exactly the broker fills never booked, and reach the
            # client
            inferred = [(x["exec_id"], x["last_qty"]) for x in
                        execs_by_order.get(row["order_id"], [])
                        if x["exec_type"] == "F" and not x["broker_exec_id"]]
            report.inferred += len(inferred)
            missing = sum((qty for _, qty in unbooked), ZERO)
            booked_here = sum((qty for _, qty in inferred), ZERO)
            unseen = [exec_id for exec_id, _ in inferred if exec_id not in mine]
            if missing != booked_here or unseen:
                lost += [f"{exec_id} ({qty}) never booked" for exec_id, qty in unbooked]
                problems.append(f"broker fills never booked ({missing}) against fills "
                                f"inferred from status answers ({booked_here}), "
                                f"{len(unseen)} of those not at the client")
        if twice:
            problems.append(f"broker fills booked twice: {'; '.join(twice)}")
        if lost:
            report.lost += len(lost)
            problems.append(f"fills lost on the way to the client: {', '.join(lost)}")
        invented = sorted(mine - our_exec_ids)
        if invented:
            report.doubled += len(invented)
            problems.append(f"fills at the client the blotter never booked: {invented}")

        if problems:
            report.disagreements.append(Disagreement(
                first_cl_ord_id, problems, view, _row_view(row, execs_by_order),
                None if broker is None else {"order_id": broker_id, **broker}))

    known_children = {row["child_cl_ord_id"] for row in rows}
    known_broker_ids = {row["broker_order_id"] for row in rows}
    orphans = [order_id for order_id, order in broker_orders.items()
               if order["status"] != "8" and order_id not in known_broker_ids
               and not known_children.intersection(order["cl_ord_ids"])]
    report.orphan_children = len(orphans)
    if orphans:
        report.notes.append(f"broker orders with no blotter row, e.g. {orphans[:5]}")
    extra_rows = [r["order_id"] for r in rows if r["order_id"] not in seen_rows]
    if extra_rows:
        report.notes.append(f"{len(extra_rows)} blotter orders the client never sent, "
                            f"e.g. {extra_rows[:5]}")


def _row_view(row: dict[str, Any] | None,
              execs_by_order: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = ("order_id", "cl_ord_id", "orig_cl_ord_id", "status", "order_qty", "cum_qty",
            "child_cl_ord_id", "broker_order_id", "pending")
    fills = [(x["exec_id"], x["last_qty"], x["broker_exec_id"])
             for x in execs_by_order.get(row["order_id"], []) if x["exec_type"] == "F"]
    return {**{key: row[key] for key in keys}, "fills": fills}
