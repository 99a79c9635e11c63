"""The core: one thread applying commands to the orders, in arrival order.

For each command the core validates, moves the order through its state table, decides the
route and produces records (for the journal) and outbound FIX messages. Commands are taken
in groups: everything waiting in the queue (up to ``max_batch``) becomes one ``Batch``, which
the journal commits in one transaction before the batch's messages are sent. Nothing is
acknowledged upstream or sent to a broker before it is durable.

This module never touches quickfix or SQLAlchemy: it talks to a ``Sender`` and a ``Journal``.

Enum members are read here as ``member._value_`` and ``member._name_``, not ``.value`` and
``.name``: the same strings, but read as plain attributes. ``.value`` and ``.name`` are
properties written in Python in ``enum``, read ~40 times per order (docs/perf/README.md,
"Enum members read as `_value_`").
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, Inexact, localcontext
from typing import Any, cast

from oms.app.commands import (
    ApplyBrokerCancelReject,
    ApplyBrokerMessageReject,
    ApplyBrokerReport,
    Barrier,
    CancelOrder,
    Command,
    ContinueStatusQueries,
    OperatorCancel,
    QueryOrderStatus,
    RecoverOutbox,
    ReplaceOrder,
    SessionLoggedOn,
    SessionLoggedOut,
    SubmitOrder,
)
from oms.app.ports import Journal, OutMessage, Sender, Timers
from oms.app.records import Batch, EventRecord, ExecutionRecord, OrderSnapshot
from oms.domain.enums import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from oms.domain.errors import InvalidStateTrigger, OmsError, Overfill, UnknownExecution
from oms.domain.ids import Ids
from oms.domain.order import (
    AVG_PX_QUANTUM,
    ZERO,
    Order,
    PendingRequest,
    Trigger,
    pending_to_json,
    plain,
)

log = logging.getLogger(__name__)

_STOP = object()
NONE_ID = "NONE"  # OrderID (37) on answers about an order we do not know

_BROKER_EXEC_TRIGGERS = {
    ExecType.DONE_FOR_DAY._value_: Trigger.DONE_FOR_DAY,
    ExecType.EXPIRED._value_: Trigger.EXPIRE,
    ExecType.SUSPENDED._value_: Trigger.SUSPEND,
    ExecType.STOPPED._value_: Trigger.STOP,
}


# why a pending cancel/replace is refused when the broker's own change overtook it (#16)
_OVERTAKEN_BY = {ExecType.EXPIRED._value_: "Order expired",
                 ExecType.DONE_FOR_DAY._value_: "Order is done for the day"}

# a broker's OrdStatus, in answer to our status query, that says the order is working there
_BROKER_WORKING = frozenset((OrdStatus.NEW._value_, OrdStatus.PARTIALLY_FILLED._value_))
# a broker's OrdStatus in answer to our status query that shows no cancel/replace pending:
# by FIX 4.4's OrdStatus precedence a pending request would show as PendingCancel (6) or
# PendingReplace (E) over all of these; Canceled (4) is the answer to a pending cancel
_BROKER_NOTHING_PENDING = _BROKER_WORKING | frozenset((
    OrdStatus.FILLED._value_, OrdStatus.DONE_FOR_DAY._value_, OrdStatus.EXPIRED._value_))


def fmt(value: Decimal) -> str:
    """A Decimal as FIX wants it: plain digits, never an exponent. Digits are kept as
    given (100.50 stays 100.50): every value here was parsed from FIX text or computed
    from such values, so ``str`` is exact and only rarely needs the slower ``format``."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def plain_digits(value: Decimal) -> int:
    """How many digits ``value`` has written out in plain notation: its integer digits
    (none when it is below 1) and its fraction digits as given. 1E+30 has 31,
    0.0000000000000001 has 16, 100.50 has 5 (#16: the limit of ``max_digits``)."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity (the FIX layer refuses them first)
        return sys.maxsize
    if exponent >= 0:
        return 1 if digits == (0,) else len(digits) + exponent
    return max(len(digits), -exponent)


def too_many_digits(value: Decimal, limit: int) -> bool:
    """``plain_digits(value) > limit``, without the digit tuple for an ordinary value.

    #16: Decimal computes with 28 significant digits, so a value beyond that is rounded
    (CumQty + LeavesQty no longer make OrderQty). ``str`` writes every digit counted as a
    character (and an exponent as "E"), so a short text without one is within the limit:
    one ``str`` for the values the FIX path carries every time, the tuple only for the rest.
    """
    text = str(value)
    if len(text) <= limit and "E" not in text:
        return False
    return plain_digits(value) > limit


def inferred_price(notional: Decimal, qty: Decimal) -> Decimal:
    """The price of ``qty`` whose value is ``notional`` (#16: the fill a status answer
    implies): exact when the division terminates, else rounded as AvgPx is."""
    with localcontext() as context:
        context.clear_flags()
        price = notional / qty
        inexact = context.flags[Inexact]
    return plain(price.quantize(AVG_PX_QUANTUM) if inexact else price)


def utc_now() -> datetime:
    return datetime.now(UTC)


def fix_time(moment: datetime) -> str:
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def order_snapshot(order: Order, now: datetime) -> OrderSnapshot:
    """The blotter row for ``order`` as of ``now`` (what the journal upserts)."""
    return OrderSnapshot(
        order_id=order.order_id,
        session=order.session,
        cl_ord_id=order.cl_ord_id,
        orig_cl_ord_id=order.orig_cl_ord_id,
        symbol=order.symbol,
        side=order.side._value_,
        ord_type=order.ord_type._value_,
        time_in_force=order.time_in_force._value_,
        order_qty=order.order_qty,
        price=order.price,
        stop_px=order.stop_px,
        account=order.account,
        ex_destination=order.ex_destination,
        status=order.status._value_,
        cum_qty=order.cum_qty,
        leaves_qty=order.leaves_qty,
        avg_px=order.avg_px,
        notional=order.notional,
        accepted=order.accepted,
        route=order.route,
        child_cl_ord_id=order.child_cl_ord_id,
        broker_order_id=order.broker_order_id,
        pending=pending_to_json(order.pending),
        text=order.text,
        version=order.version,
        created_at=order.created_at or now,
        updated_at=now,
    )


@dataclass
class Route:
    """A broker the core can route to."""

    name: str
    session: str  # the broker session key
    account: str = ""


@dataclass
class CoreSettings:
    """What the core needs from the configuration."""

    routes: dict[str, Route]  # broker name -> route
    destinations: dict[str, str] = field(default_factory=dict)  # ExDestination -> broker name
    default_route: str = ""
    symbols: frozenset[str] = frozenset()  # empty: any symbol
    send_pending_new: bool = False
    max_batch: int = 500
    # sessions with ResetOnLogon=Y (upstream or broker): sequence numbers restart at logon
    reset_sessions: frozenset[str] = frozenset()
    # #16: after a broker logon, at most this many status queries (35=H) per interval
    status_query_batch: int = 100
    status_query_interval: float = 0.1  # seconds
    # commit each batch in the core thread (fewer thread hand-offs) instead of handing it
    # to the journal writer thread (commits overlap the next batch's processing)
    inline_journal: bool = False
    # a committed batch with at least this many messages is sent by the sender thread, so
    # the core goes on with the next batch meanwhile; smaller ones (light load) are sent at
    # once by the thread that committed them (a hand-off would cost more than it saves)
    offload_sends_from: int = 32
    # #16: quantities and prices with more digits than this (written out plainly, integer
    # and fraction digits) are refused: on orders, replaces and broker reports
    max_digits: int = 15


@dataclass
class CoreStats:
    """Counters of what the core has done, and where an order's time goes (#3: the OMS's
    ``/stats``, and ``oms bench``'s JSON). Samples are nanoseconds, the latest kept."""

    commands: int = 0
    batches: int = 0
    orders: int = 0
    # a NewOrderSingle's wait from the FIX callback until the core takes it (queueing
    # behind the batch being processed or committed)
    queue_wait_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    # a batch from its first command taken until the core is free again: processing,
    # rows, commit, and the sends of a small batch (a big one goes to the sender thread)
    batch_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    # sending one committed batch's messages
    send_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    # a NewOrderSingle's pre-trade checks: its fields, a live duplicate ClOrdID, the route
    # (#3's "risk checks" figure; risk limits join this stage when they land)
    checks_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))

    def reset_samples(self) -> None:
        for samples in (self.queue_wait_ns, self.batch_ns, self.send_ns, self.checks_ns):
            samples.clear()


class ThreadTimers:
    """``Timers`` on ``threading.Timer``: one short-lived daemon thread per call."""

    def call_later(self, delay: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(delay, action)
        timer.daemon = True
        timer.start()


class Core:
    """Owns the live orders; applies commands one at a time on its own thread."""

    def __init__(
        self,
        settings: CoreSettings,
        journal: Journal,
        sender: Sender,
        *,
        ids: Ids | None = None,
        clock: Callable[[], datetime] = utc_now,
        timers: Timers | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.sender = sender
        self.timers: Timers = timers or ThreadTimers()
        self.ids = ids or Ids()
        self.clock = clock
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.orders: dict[str, Order] = {}  # order_id -> order
        self.by_upstream: dict[tuple[str, str], Order] = {}  # (session, ClOrdID) -> order
        self.by_child: dict[str, Order] = {}  # child ClOrdID (any in the chain) -> order
        # (broker session, broker OrderID) -> order: ClOrdID is optional on an
        # ExecutionReport, and some brokers send only OrderID on unsolicited reports
        self.by_broker_id: dict[tuple[str, str], Order] = {}
        self.seen_broker_execs: set[tuple[str, str]] = set()
        self.seen_cl_ord_ids: dict[str, set[str]] = {}  # for PossResend checks
        # #16: broker session -> the orders still to query since its logon, and the number
        # of that logon (a timer of an earlier one finds its round over)
        self._query_waiting: dict[str, deque[str]] = {}
        self._query_rounds: dict[str, int] = {}
        self.stats = CoreStats()
        self._thread: threading.Thread | None = None
        self._batch = Batch()
        self._out: list[OutMessage] = []
        self._now = clock()
        self._now_text = fix_time(self._now)
        self._dirty: dict[str, Order] = {}  # orders changed in this batch: snapshot at flush
        self._in_event: EventRecord | None = None  # the current command's inbound row
        # committed batches waiting for the sender thread; queued/done are each written by
        # one thread only, so queued - done is what that thread has still to send
        self._deliveries: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._deliveries_queued = 0
        self._deliveries_done = 0
        self._sender_thread: threading.Thread | None = None
        self._sender_lock = threading.Lock()
        # #16, the outbox. Per session, the outbox_seq of the last message journaled (core
        # thread), and of the last one handed to the FIX engine (written by whichever
        # thread sends, after the engine took the batch); the latter goes into the journal
        # with the next batch, so a restart knows where to look for what was never sent
        self.outbox_committed: dict[str, int] = {}
        self.outbox_sent: dict[str, int] = {}
        self._outbox_sent_written: dict[str, int] = {}
        self._held: dict[str, list[OutMessage]] = {}  # sent when their session logs on
        self._released: dict[str, int] = {}  # held messages sent in this batch: marks

    # --- lifecycle ---------------------------------------------------------------------
    def load_outbox(self, committed: dict[str, int], sent: dict[str, int]) -> None:
        """Take the outbox marks from the blotter before starting (restart recovery)."""
        self.outbox_committed.update(committed)
        self.outbox_sent.update(sent)
        self._outbox_sent_written.update(sent)

    def load(self, orders: Iterable[Order], seen_broker_execs: set[tuple[str, str]],
             seen_cl_ord_ids: dict[str, set[str]] | None = None) -> None:
        """Take open orders from the blotter before starting (restart recovery)."""
        for order in orders:
            self._index(order)
            for booked in order.fills:
                if booked.broker_exec_id:
                    route = self.settings.routes.get(order.route)
                    if route:
                        self.seen_broker_execs.add((route.session, booked.broker_exec_id))
        self.seen_broker_execs |= seen_broker_execs
        for session, ids in (seen_cl_ord_ids or {}).items():
            self.seen_cl_ord_ids.setdefault(session, set()).update(ids)

    def start(self) -> None:
        self._sender_thread = threading.Thread(target=self._run_sender, name="oms-sender",
                                               daemon=True)
        self._sender_thread.start()
        self._thread = threading.Thread(target=self._run, name="oms-core", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self.queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        with self._sender_lock:
            sender, self._sender_thread = self._sender_thread, None
            if sender is not None:
                self._deliveries.put(_STOP)  # after every batch queued for it
        if sender is not None:
            sender.join(timeout)

    def submit(self, command: Command) -> None:
        """Enqueue a command (any thread)."""
        self.queue.put(command)

    # --- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        get = self.queue.get
        get_nowait = self.queue.get_nowait
        max_batch = self.settings.max_batch
        clock_ns = time.perf_counter_ns
        batch_ns = self.stats.batch_ns
        while True:
            command = get()
            started = clock_ns()
            stop = False
            count = 0
            self._set_now()
            # group commit: whatever arrived while the last batch was being committed
            # becomes the next batch
            while True:
                if command is _STOP:
                    stop = True
                    break
                self._dispatch(command)
                count += 1
                if count >= max_batch:
                    break
                try:
                    command = get_nowait()
                except queue.Empty:
                    break
            self._flush_batch()
            batch_ns.append(clock_ns() - started)
            self.stats.commands += count
            if stop:
                return

    def _set_now(self) -> None:
        """One clock reading per batch: every record and message of the batch carries it."""
        self._now = self.clock()
        self._now_text = fix_time(self._now)

    def process(self, commands: Iterable[Command]) -> None:
        """Apply commands synchronously as one batch (tests and tools; not while running)."""
        self._set_now()
        for command in commands:
            self._dispatch(command)
        self._flush_batch()

    def _flush_batch(self) -> None:
        batch, out = self._batch, self._out
        if self._dirty:
            take = self._take_snapshot
            batch.orders.update({oid: take(order) for oid, order in self._dirty.items()})
            self._dirty = {}
        if batch:
            self._note_sent(batch)
        if out or batch.after_commit:
            # after the commit: the batch's messages, then its replies (operator, barrier)
            callbacks = batch.after_commit
            marks = self._sent_marks(batch)
            batch.after_commit = [lambda: self._deliver(out, callbacks, marks)]
        if batch:
            if self.settings.inline_journal:
                self.journal.write_now(batch)
            else:
                self.journal.submit(batch)
            self.stats.batches += 1
        self._batch = Batch()
        self._out = []

    def _note_sent(self, batch: Batch) -> None:
        """Put how far each session's outbox has been sent into ``batch`` (#16), where it
        moved since the last batch: no commit of its own, it rides on the next one."""
        written = self._outbox_sent_written
        for session, seq in self.outbox_sent.copy().items():  # the sender adds to it
            if written.get(session) != seq:
                written[session] = seq
                batch.out_sent[session] = seq

    def _sent_marks(self, batch: Batch) -> dict[str, int]:
        """Where each session's outbox stands once the batch's messages are sent: its last
        message of each session, less sessions whose held messages wait for a logon."""
        marks = batch.outbound
        if self._held:
            marks = {s: seq for s, seq in marks.items() if s not in self._held}
        if self._released:
            marks = dict(marks)
            for session, seq in self._released.items():
                marks[session] = max(marks.get(session, 0), seq)
            self._released = {}
        return marks

    # --- after a commit: sending ----------------------------------------------------------
    def _deliver(self, out: list[OutMessage], callbacks: list[Callable[[], None]],
                 marks: dict[str, int]) -> None:
        """Send a committed batch's messages and run its callbacks, in commit order.

        #3: under load the sender thread does it, and the core processes and commits the
        next batch meanwhile (the engine's own work in sendToTarget runs without the GIL);
        a small batch with nothing queued before it is sent here and now."""
        if self._sender_thread is not None and (
                len(out) >= self.settings.offload_sends_from
                or self._deliveries_queued != self._deliveries_done):
            with self._sender_lock:  # against stop(): nothing is queued after its _STOP
                if self._sender_thread is not None:
                    self._deliveries_queued += 1
                    self._deliveries.put((out, callbacks, marks))
                    return
        self._send_and_call(out, callbacks, marks)

    def _send_and_call(self, out: list[OutMessage], callbacks: list[Callable[[], None]],
                       marks: dict[str, int]) -> None:
        if out:
            started = time.perf_counter_ns()
            try:
                self.sender.send(out)
            except Exception:
                log.exception("core: sending %d messages failed", len(out))
            else:
                self.outbox_sent.update(marks)
            self.stats.send_ns.append(time.perf_counter_ns() - started)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("core: after-commit callback %r raised", callback)

    def _run_sender(self) -> None:
        get = self._deliveries.get
        while True:
            item = get()
            if item is _STOP:
                return
            out, callbacks, marks = cast(
                tuple[list[OutMessage], list[Callable[[], None]], dict[str, int]], item)
            self._send_and_call(out, callbacks, marks)
            self._deliveries_done += 1

    def _dispatch(self, command: object) -> None:
        self._in_event = None  # the inbound row of this command, once it has one
        seq_num = getattr(command, "seq_num", 0)
        if seq_num:
            # committed with the batch: after a crash the engine asks for what came later
            self._batch.inbound_seqs[command.session] = seq_num  # type: ignore[attr-defined]
        handler = self._handlers.get(type(command))
        if handler is None:
            log.error("core: no handler for %r", command)
            return
        try:
            handler(self, command)
        except Exception as exc:  # one bad command must not stop the core
            log.exception("core: %s failed", type(command).__name__)
            self._event("error", None, getattr(command, "session", ""), "",
                        f"{type(command).__name__} failed: {exc!r}")

    # --- journal helpers ---------------------------------------------------------------
    def _event(self, kind: str, order_id: str | None, session: str, msg_type: str,
               body: str) -> EventRecord:
        record = EventRecord(self._now, kind, order_id, session, msg_type, body)
        self._batch.events.append(record)
        return record

    def _inbound(self, command: object, order_id: str | None, msg_type: str) -> None:
        self._in_event = self._event("in", order_id, command.session,  # type: ignore[attr-defined]
                                     msg_type, command.raw)  # type: ignore[attr-defined]

    def _send(self, message: OutMessage, order_id: str | None) -> None:
        """Journal ``message`` and send it after the batch's commit; #16: each session's
        messages are numbered (outbox_seq) so a restart can tell which were never sent."""
        session = message.session
        seq = message.outbox_seq = self.outbox_committed.get(session, 0) + 1
        self.outbox_committed[session] = seq
        self._batch.outbound[session] = seq
        self._out.append(message)
        self._batch.events.append(EventRecord(self._now, "out", order_id, session,
                                              message.msg_type, message.render(), "", seq))

    def _snapshot(self, order: Order) -> None:
        """Mark the order changed; its snapshot is taken once, when the batch is flushed."""
        self._dirty[order.order_id] = order

    def _take_snapshot(self, order: Order) -> OrderSnapshot:
        return order_snapshot(order, self._now)

    def _transition(self, order: Order, trigger: Trigger, before: OrdStatus) -> None:
        self._note_transition(order, trigger._value_, f"{before._name_} -> {order.status._name_}")
        self._snapshot(order)

    def _note_transition(self, order: Order, trigger: str, change: str) -> None:
        """Journal a state change: on the row of the inbound message that caused it, or
        (an operator's request, a change no message of this order caused) on its own."""
        caused_by = self._in_event
        if caused_by is not None and caused_by.order_id == order.order_id:
            note = f"{trigger} {change}"
            caused_by.transition = f"{caused_by.transition}; {note}" if caused_by.transition \
                else note
        else:
            self._event("transition", order.order_id, order.session, trigger, change)

    def _index(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self.by_upstream[(order.session, order.cl_ord_id)] = order
        if order.orig_cl_ord_id:
            self.by_upstream.setdefault((order.session, order.orig_cl_ord_id), order)
        if order.child_cl_ord_id:
            self.by_child[order.child_cl_ord_id] = order
        route = self.settings.routes.get(order.route)
        if order.broker_order_id and route is not None:
            self.by_broker_id[(route.session, order.broker_order_id)] = order
        if order.pending is not None:
            if order.pending.child_cl_ord_id:
                self.by_child[order.pending.child_cl_ord_id] = order
            if order.pending.cl_ord_id:
                self.by_upstream[(order.session, order.pending.cl_ord_id)] = order

    # --- upstream ExecutionReports -----------------------------------------------------
    def _report(self, order: Order, exec_type: ExecType, *, cl_ord_id: str | None = None,
                orig_cl_ord_id: str = "", last_qty: Decimal = ZERO, last_px: Decimal = ZERO,
                exec_ref_id: str = "", text: str = "", rej_reason: str = "",
                broker: tuple[str, str] = ("", ""), status_req_id: str = "",
                exec_id: str | None = None, restatement_reason: str = "") -> str:
        """Send an ExecutionReport about ``order`` upstream and record the execution."""
        exec_id = exec_id or self.ids.exec_id()
        leaves = order.leaves_qty
        avg_px = order.avg_px
        fields: list[tuple[int, str]] = [
            (37, order.order_id),
            (11, cl_ord_id if cl_ord_id is not None else order.cl_ord_id),
        ]
        if orig_cl_ord_id:
            fields.append((41, orig_cl_ord_id))
        if status_req_id:
            fields.append((790, status_req_id))
        fields += [
            (17, exec_id),
            (150, exec_type._value_),
            (39, order.status._value_),
        ]
        if rej_reason:
            fields.append((103, rej_reason))
        if restatement_reason:
            fields.append((378, restatement_reason))
        if exec_ref_id:
            fields.append((19, exec_ref_id))
        if order.account:
            fields.append((1, order.account))
        if order.symbol:
            fields.append((55, order.symbol))
        fields += [(54, order.side._value_), (38, fmt(order.order_qty)), (40, order.ord_type._value_)]
        if order.price is not None:
            fields.append((44, fmt(order.price)))
        if order.stop_px is not None:
            fields.append((99, fmt(order.stop_px)))
        fields.append((59, order.time_in_force._value_))
        if exec_type in (ExecType.TRADE, ExecType.TRADE_CORRECT):
            fields += [(32, fmt(last_qty)), (31, fmt(last_px))]
        fields += [
            (151, fmt(leaves)),
            (14, fmt(order.cum_qty)),
            (6, fmt(avg_px)),
            (60, self._now_text),
        ]
        if text:
            fields.append((58, text))
        self._send(OutMessage(order.session, "8", fields), order.order_id)
        if exec_type is not ExecType.ORDER_STATUS:
            self._batch.executions.append(ExecutionRecord(
                exec_id=exec_id,
                order_id=order.order_id,
                exec_type=exec_type._value_,
                ord_status=order.status._value_,
                last_qty=last_qty,
                last_px=last_px,
                cum_qty=order.cum_qty,
                leaves_qty=leaves,
                avg_px=avg_px,
                exec_ref_id=exec_ref_id,
                broker_session=broker[0],
                broker_exec_id=broker[1],
                transact_time=self._now,
                text=text,
            ))
        return exec_id

    def _cancel_reject(self, session: str, order: Order | None, cl_ord_id: str,
                       orig_cl_ord_id: str, response_to: CxlRejResponseTo,
                       reason: CxlRejReason | str, text: str) -> None:
        fields: list[tuple[int, str]] = [
            (37, order.order_id if order else NONE_ID),
            (11, cl_ord_id),
            (41, orig_cl_ord_id),
            (39, order.status._value_ if order else OrdStatus.REJECTED._value_),
            (434, response_to._value_),
            (102, reason._value_ if isinstance(reason, CxlRejReason) else reason),
        ]
        if text:
            fields.append((58, text))
        self._send(OutMessage(session, "9", fields), order.order_id if order else None)

    # --- NewOrderSingle ----------------------------------------------------------------
    def _on_submit(self, cmd: SubmitOrder) -> None:
        if cmd.received_ns:
            self.stats.queue_wait_ns.append(time.perf_counter_ns() - cmd.received_ns)
        seen = self.seen_cl_ord_ids.setdefault(cmd.session, set())
        if (cmd.poss_resend or cmd.poss_dup) and cmd.cl_ord_id in seen:
            # FIX 4.4 Vol 2: a PossResend/PossDup message already processed is ignored
            self._inbound(cmd, None, "D")
            flag = "PossDup" if cmd.poss_dup else "PossResend"
            self._event("ignored", None, cmd.session, "D",
                        f"{flag} order {cmd.cl_ord_id} already seen on this session")
            return
        seen.add(cmd.cl_ord_id)
        order = self._new_order(cmd)
        self._inbound(cmd, order.order_id, "D")
        checks_started = time.perf_counter_ns()
        reason, rej_code = self._validate_new(cmd, order)
        existing = self.by_upstream.get((cmd.session, cmd.cl_ord_id))
        if not reason and existing is not None and existing.is_live:
            reason = f"Duplicate ClOrdID {cmd.cl_ord_id}: it names a live order"
            rej_code = OrdRejReason.DUPLICATE_ORDER._value_
        route: Route | None = None
        if not reason:
            route, reason = self._choose_route(order)
            if reason:
                rej_code = OrdRejReason.BROKER_OPTION._value_
        self.stats.checks_ns.append(time.perf_counter_ns() - checks_started)
        self.orders[order.order_id] = order
        self.stats.orders += 1
        if reason:
            self._deny(order, reason, rej_code, register=existing is None or not existing.is_live)
            return
        assert route is not None
        self.by_upstream[(cmd.session, cmd.cl_ord_id)] = order
        order.route = route.name
        order.child_cl_ord_id = self.ids.child_cl_ord_id()
        self.by_child[order.child_cl_ord_id] = order
        self._note_transition(order, "SUBMIT", f"-> {order.status._name_} routed to {route.name}")
        self._snapshot(order)
        if self.settings.send_pending_new:
            self._report(order, ExecType.PENDING_NEW)
        child = self._child_new(order, route)
        child.received_ns = cmd.received_ns
        self._send(child, order.order_id)

    def _new_order(self, cmd: SubmitOrder) -> Order:
        side = _enum_or_none(Side, cmd.side)
        ord_type = _enum_or_none(OrdType, cmd.ord_type)
        tif = _enum_or_none(TimeInForce, cmd.time_in_force or TimeInForce.DAY._value_)
        return Order(
            order_id=self.ids.order_id(),
            session=cmd.session,
            cl_ord_id=cmd.cl_ord_id,
            symbol=cmd.symbol,
            side=side or Side.BUY,
            ord_type=ord_type or OrdType.MARKET,
            order_qty=cmd.order_qty if cmd.order_qty is not None else ZERO,
            price=cmd.price,
            stop_px=cmd.stop_px,
            time_in_force=tif or TimeInForce.DAY,
            account=cmd.account,
            ex_destination=cmd.ex_destination,
            created_at=self._now,
        )

    def _validate_new(self, cmd: SubmitOrder, order: Order) -> tuple[str, str]:
        """A reason to refuse the order and its OrdRejReason, or ("", "")."""
        other = OrdRejReason.OTHER._value_
        if cmd.error:
            return cmd.error, other
        if not cmd.symbol:
            return "Symbol (55) is required", other
        if _enum_or_none(Side, cmd.side) is None:
            return f"Side (54) {cmd.side!r} is not supported", other
        ord_type = _enum_or_none(OrdType, cmd.ord_type)
        if ord_type is None:
            return f"OrdType (40) {cmd.ord_type!r} is not supported", other
        if _enum_or_none(TimeInForce, cmd.time_in_force or "0") is None:
            return f"TimeInForce (59) {cmd.time_in_force!r} is not supported", other
        if cmd.order_qty is None:
            return "OrderQty (38) is required", OrdRejReason.INCORRECT_QUANTITY._value_
        limit = self.settings.max_digits
        if too_many_digits(cmd.order_qty, limit):
            return f"OrderQty (38) has more than {limit} significant digits", \
                OrdRejReason.INCORRECT_QUANTITY._value_
        if cmd.order_qty <= ZERO:
            return f"OrderQty (38) must be positive, got {fmt(cmd.order_qty)}", \
                OrdRejReason.INCORRECT_QUANTITY._value_
        if ord_type.needs_price:
            if cmd.price is None:
                return "Price (44) is required for a limit order", other
        if cmd.price is not None:
            if too_many_digits(cmd.price, limit):
                return f"Price (44) has more than {limit} significant digits", other
            if cmd.price <= ZERO:
                return f"Price (44) must be positive, got {fmt(cmd.price)}", other
        if ord_type.needs_stop_px and cmd.stop_px is None:
            return "StopPx (99) is required for a stop order", other
        if cmd.stop_px is not None:
            if too_many_digits(cmd.stop_px, limit):
                return f"StopPx (99) has more than {limit} significant digits", other
            if cmd.stop_px <= ZERO:
                return f"StopPx (99) must be positive, got {fmt(cmd.stop_px)}", other
        if self.settings.symbols and cmd.symbol not in self.settings.symbols:
            return f"Unknown symbol {cmd.symbol}", OrdRejReason.UNKNOWN_SYMBOL._value_
        return "", ""

    def _choose_route(self, order: Order) -> tuple[Route | None, str]:
        settings = self.settings
        if order.ex_destination:
            name = settings.destinations.get(order.ex_destination, order.ex_destination)
            if name not in settings.routes:
                return None, f"Unknown ExDestination (100) {order.ex_destination}"
        else:
            name = settings.default_route
            if not name:
                return None, "No ExDestination (100) and no default route configured"
        route = settings.routes[name]
        if not self.sender.is_logged_on(route.session):
            return None, f"Broker {name} is not connected"
        return route, ""

    def _deny(self, order: Order, reason: str, rej_code: str, *, register: bool) -> None:
        before = order.status
        order.text = reason
        order.apply(Trigger.DENY)
        if register:
            self.by_upstream[(order.session, order.cl_ord_id)] = order
        self._transition(order, Trigger.DENY, before)
        self._report(order, ExecType.REJECTED, text=reason, rej_reason=rej_code)

    def _child_new(self, order: Order, route: Route) -> OutMessage:
        fields: list[tuple[int, str]] = [(11, order.child_cl_ord_id)]
        account = order.account or route.account
        if account:
            fields.append((1, account))
        fields += [(21, "1"), (55, order.symbol), (54, order.side._value_),
                   (60, self._now_text), (38, fmt(order.order_qty)),
                   (40, order.ord_type._value_)]
        if order.price is not None:
            fields.append((44, fmt(order.price)))
        if order.stop_px is not None:
            fields.append((99, fmt(order.stop_px)))
        fields.append((59, order.time_in_force._value_))
        if order.ex_destination:
            fields.append((100, order.ex_destination))
        return OutMessage(route.session, "D", fields)

    # --- OrderCancelRequest / OrderCancelReplaceRequest --------------------------------
    def _find_upstream(self, session: str, orig_cl_ord_id: str, order_id: str) -> Order | None:
        order = self.by_upstream.get((session, orig_cl_ord_id))
        if order is None and order_id and order_id != NONE_ID:
            candidate = self.orders.get(order_id)
            if candidate is not None and candidate.session == session:
                order = candidate
        return order

    def _check_request(self, cmd: CancelOrder | ReplaceOrder, order: Order | None,
                       response_to: CxlRejResponseTo) -> bool:
        """Answer a cancel/replace that cannot go ahead with a 9; True if it may proceed."""
        def refuse(reason: CxlRejReason, text: str) -> bool:
            self._cancel_reject(cmd.session, order, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                response_to, reason, text)
            return False

        if order is None:
            return refuse(CxlRejReason.UNKNOWN_ORDER, f"Unknown order {cmd.orig_cl_ord_id}")
        duplicate = self.by_upstream.get((cmd.session, cmd.cl_ord_id))
        if duplicate is not None and cmd.cl_ord_id != cmd.orig_cl_ord_id:
            return refuse(CxlRejReason.DUPLICATE_CLORDID, f"Duplicate ClOrdID {cmd.cl_ord_id}")
        reopen = response_to is CxlRejResponseTo.REPLACE and order.status is OrdStatus.FILLED
        if not order.is_live and not reopen:
            return refuse(CxlRejReason.TOO_LATE_TO_CANCEL,
                          f"Order is {order.status._name_.replace('_', ' ').lower()}")
        if order.status.is_pending_request:
            return refuse(CxlRejReason.ALREADY_PENDING,
                          "A cancel or replace is already pending for this order")
        if order.status is OrdStatus.DONE_FOR_DAY and response_to is CxlRejResponseTo.REPLACE:
            return refuse(CxlRejReason.TOO_LATE_TO_CANCEL, "Order is done for the day")
        if cmd.side and cmd.side != order.side._value_:
            return refuse(CxlRejReason.OTHER, f"Side (54) {cmd.side} does not match the order")
        if cmd.symbol and cmd.symbol != order.symbol:
            return refuse(CxlRejReason.OTHER,
                          f"Symbol (55) {cmd.symbol} does not match the order")
        route = self.settings.routes.get(order.route)
        if route is None or not self.sender.is_logged_on(route.session):
            return refuse(CxlRejReason.BROKER_OPTION,
                          f"Broker {order.route or '?'} is not connected")
        return True

    def _on_cancel(self, cmd: CancelOrder) -> None:
        order = self._find_upstream(cmd.session, cmd.orig_cl_ord_id, cmd.order_id)
        self._inbound(cmd, order.order_id if order else None, "F")
        if not self._check_request(cmd, order, CxlRejResponseTo.CANCEL):
            return
        assert order is not None
        self._request_cancel(order, PendingRequest(
            kind="cancel", cl_ord_id=cmd.cl_ord_id, orig_cl_ord_id=cmd.orig_cl_ord_id,
            child_cl_ord_id=self.ids.child_cl_ord_id()))

    def _request_cancel(self, order: Order, request: PendingRequest) -> None:
        before = order.status
        current_child = order.child_cl_ord_id
        order.request(request)
        self.by_child[request.child_cl_ord_id] = order
        if request.cl_ord_id:
            self.by_upstream[(order.session, request.cl_ord_id)] = order
        self._transition(order, Trigger.CANCEL_REQUEST, before)
        route = self.settings.routes[order.route]
        fields: list[tuple[int, str]] = [(41, current_child)]
        if order.broker_order_id:
            fields.append((37, order.broker_order_id))
        fields += [(11, request.child_cl_ord_id), (55, order.symbol), (54, order.side._value_),
                   (60, self._now_text), (38, fmt(order.order_qty))]
        self._send(OutMessage(route.session, "F", fields), order.order_id)

    def _on_replace(self, cmd: ReplaceOrder) -> None:
        order = self._find_upstream(cmd.session, cmd.orig_cl_ord_id, cmd.order_id)
        self._inbound(cmd, order.order_id if order else None, "G")
        if not self._check_request(cmd, order, CxlRejResponseTo.REPLACE):
            return
        assert order is not None
        problem = self._validate_replace(cmd, order)
        if problem:
            self._cancel_reject(cmd.session, order, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                CxlRejResponseTo.REPLACE, CxlRejReason.OTHER, problem)
            return
        ord_type = _enum_or_none(OrdType, cmd.ord_type) or order.ord_type
        tif = _enum_or_none(TimeInForce, cmd.time_in_force) if cmd.time_in_force else None
        request = PendingRequest(
            kind="replace", cl_ord_id=cmd.cl_ord_id, orig_cl_ord_id=cmd.orig_cl_ord_id,
            child_cl_ord_id=self.ids.child_cl_ord_id(),
            order_qty=cmd.order_qty, price=cmd.price, stop_px=cmd.stop_px,
            ord_type=ord_type, time_in_force=tif)
        before = order.status
        current_child = order.child_cl_ord_id
        order.request(request)
        self.by_child[request.child_cl_ord_id] = order
        self.by_upstream[(order.session, request.cl_ord_id)] = order
        self._transition(order, Trigger.REPLACE_REQUEST, before)
        route = self.settings.routes[order.route]
        new_qty = cmd.order_qty if cmd.order_qty is not None else order.order_qty
        new_price = cmd.price if cmd.price is not None else order.price
        fields: list[tuple[int, str]] = [(41, current_child)]
        if order.broker_order_id:
            fields.append((37, order.broker_order_id))
        fields += [(11, request.child_cl_ord_id)]
        account = order.account or route.account  # as on the child D: FIX 4.4 asks that
        if account:                                # unchanged fields be retransmitted
            fields.append((1, account))
        fields += [(21, "1"), (55, order.symbol), (54, order.side._value_),
                   (60, self._now_text), (38, fmt(new_qty)), (40, ord_type._value_)]
        if new_price is not None and ord_type.needs_price:
            fields.append((44, fmt(new_price)))
        stop_px = cmd.stop_px if cmd.stop_px is not None else order.stop_px
        if stop_px is not None and ord_type.needs_stop_px:
            fields.append((99, fmt(stop_px)))
        fields.append((59, (tif or order.time_in_force)._value_))
        if order.ex_destination:
            fields.append((100, order.ex_destination))
        self._send(OutMessage(route.session, "G", fields), order.order_id)

    def _validate_replace(self, cmd: ReplaceOrder, order: Order) -> str:
        if cmd.error:
            return cmd.error
        ord_type = _enum_or_none(OrdType, cmd.ord_type) if cmd.ord_type else order.ord_type
        if ord_type is None:
            return f"OrdType (40) {cmd.ord_type!r} is not supported"
        if cmd.time_in_force and _enum_or_none(TimeInForce, cmd.time_in_force) is None:
            return f"TimeInForce (59) {cmd.time_in_force!r} is not supported"
        limit = self.settings.max_digits
        if cmd.order_qty is not None:
            if too_many_digits(cmd.order_qty, limit):
                return f"OrderQty (38) has more than {limit} significant digits"
            if cmd.order_qty <= ZERO:
                return f"OrderQty (38) must be positive, got {fmt(cmd.order_qty)}"
            if cmd.order_qty < order.cum_qty:
                return (f"OrderQty (38) {fmt(cmd.order_qty)} is below the "
                        f"quantity already filled ({fmt(order.cum_qty)})")
        price = cmd.price if cmd.price is not None else order.price
        if ord_type.needs_price and price is None:
            return "Price (44) is required for a limit order"
        if cmd.price is not None:
            if too_many_digits(cmd.price, limit):
                return f"Price (44) has more than {limit} significant digits"
            if cmd.price <= ZERO:
                return f"Price (44) must be positive, got {fmt(cmd.price)}"
        if cmd.stop_px is not None:
            if too_many_digits(cmd.stop_px, limit):
                return f"StopPx (99) has more than {limit} significant digits"
            if cmd.stop_px <= ZERO:
                return f"StopPx (99) must be positive, got {fmt(cmd.stop_px)}"
        return ""

    # --- OrderStatusRequest ------------------------------------------------------------
    def _on_status(self, cmd: QueryOrderStatus) -> None:
        order = self._find_upstream(cmd.session, cmd.cl_ord_id, cmd.order_id)
        self._inbound(cmd, order.order_id if order else None, "H")
        if order is not None:
            self._report(order, ExecType.ORDER_STATUS, cl_ord_id=cmd.cl_ord_id,
                         status_req_id=cmd.ord_status_req_id)
            return
        fields: list[tuple[int, str]] = [(37, cmd.order_id or NONE_ID), (11, cmd.cl_ord_id)]
        if cmd.ord_status_req_id:
            fields.append((790, cmd.ord_status_req_id))
        fields += [(17, self.ids.exec_id()), (150, ExecType.ORDER_STATUS._value_),
                   (39, OrdStatus.REJECTED._value_)]
        if cmd.symbol:
            fields.append((55, cmd.symbol))
        if cmd.side:
            fields.append((54, cmd.side))
        fields += [(151, "0"), (14, "0"), (6, "0"), (60, self._now_text),
                   (58, f"Unknown order {cmd.cl_ord_id}")]
        self._send(OutMessage(cmd.session, "8", fields), None)

    # --- broker ExecutionReports -------------------------------------------------------
    def _find_child(self, session: str, cl_ord_id: str, orig_cl_ord_id: str,
                    broker_order_id: str) -> Order | None:
        return (self.by_child.get(cl_ord_id) or self.by_child.get(orig_cl_ord_id)
                or self.by_broker_id.get((session, broker_order_id)))

    def _on_broker_report(self, cmd: ApplyBrokerReport) -> None:
        order = self._find_child(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                 cmd.broker_order_id)
        order_id = order.order_id if order else None
        key = (cmd.session, cmd.exec_id)
        self._inbound(cmd, order_id, "8")
        if cmd.exec_type != ExecType.ORDER_STATUS._value_:
            if key in self.seen_broker_execs:
                # #2: brokers resend ERs after logon; a fill must never count twice
                self._event("ignored", order_id, cmd.session, "8",
                            f"duplicate broker ExecID {cmd.exec_id} dropped")
                return
            self.seen_broker_execs.add(key)
        if order is None:
            self._event("error", None, cmd.session, "8",
                        f"ExecutionReport for unknown ClOrdID {cmd.cl_ord_id}")
            log.warning("broker ER for unknown ClOrdID %s on %s", cmd.cl_ord_id, cmd.session)
            return
        problem = self._broker_digits_problem(cmd)
        if problem:
            # #16: refused like any malformed report: journaled, the order left as it was
            log.warning("order %s: broker ER %s refused: %s", order.order_id, cmd.exec_id,
                        problem)
            self._event("error", order.order_id, cmd.session, cmd.exec_type,
                        f"ExecutionReport {cmd.exec_id} refused: {problem}")
            return
        try:
            self._apply_broker_report(order, cmd)
            if cmd.broker_order_id and cmd.broker_order_id != NONE_ID and \
                    cmd.broker_order_id != order.broker_order_id:
                order.broker_order_id = cmd.broker_order_id
                self.by_broker_id[(cmd.session, cmd.broker_order_id)] = order
                self._snapshot(order)
        except (InvalidStateTrigger, Overfill, UnknownExecution) as exc:
            log.warning("order %s: broker ER %s refused: %s", order.order_id, cmd.exec_id, exc)
            self._event("error", order.order_id, cmd.session, cmd.exec_type,
                        f"{type(exc).__name__}: {exc}")
            self._snapshot(order)

    def _broker_digits_problem(self, cmd: ApplyBrokerReport) -> str:
        """A broker quantity or price with more digits than ``max_digits``, named, or ""."""
        limit = self.settings.max_digits
        for value, name in ((cmd.last_qty, "LastQty (32)"), (cmd.last_px, "LastPx (31)"),
                            (cmd.cum_qty, "CumQty (14)"), (cmd.order_qty, "OrderQty (38)")):
            if value is not None and too_many_digits(value, limit):
                return f"{name} has more than {limit} significant digits"
        return ""

    def _apply_broker_report(self, order: Order, cmd: ApplyBrokerReport) -> None:
        exec_type = cmd.exec_type
        before = order.status
        broker = (cmd.session, cmd.exec_id)
        pending = order.pending
        if exec_type == ExecType.NEW._value_:
            if order.accepted:
                self._event("ignored", order.order_id, cmd.session, "8", "repeated New ack")
                return
            self._accept(order, broker)
        elif exec_type == ExecType.TRADE._value_:
            if cmd.last_qty is None or cmd.last_px is None:
                raise Overfill(f"fill {cmd.exec_id} without LastQty/LastPx")
            self._book_fill(order, cmd.last_qty, cmd.last_px, broker)
        elif exec_type == ExecType.CANCELED._value_:
            self._cancel_order(order, broker, cmd.text)
        elif exec_type == ExecType.REPLACED._value_:
            if pending is None or pending.kind != "replace":
                raise InvalidStateTrigger(order.status._name_, Trigger.REPLACE._name_,
                                          order.order_id)
            self._replaced(order, pending, cmd.order_qty, broker)
        elif exec_type in (ExecType.PENDING_CANCEL._value_, ExecType.PENDING_REPLACE._value_):
            cancel = exec_type == ExecType.PENDING_CANCEL._value_
            trigger = Trigger.CANCEL_PENDING if cancel else Trigger.REPLACE_PENDING
            order.apply(trigger)
            self._transition(order, trigger, before)
            if pending is not None and pending.cl_ord_id:
                self._report(order, ExecType(exec_type), cl_ord_id=pending.cl_ord_id,
                             orig_cl_ord_id=pending.orig_cl_ord_id, broker=broker)
        elif exec_type == ExecType.REJECTED._value_:
            order.text = cmd.text or "Rejected by broker"
            order.apply(Trigger.REJECT)
            self._transition(order, Trigger.REJECT, before)
            self._answer_overtaken(order, pending, "Order was rejected")
            self._report(order, ExecType.REJECTED, text=order.text, broker=broker,
                         rej_reason=cmd.ord_rej_reason or OrdRejReason.BROKER_OPTION._value_)
        elif exec_type == ExecType.PENDING_NEW._value_:
            self._event("ignored", order.order_id, cmd.session, "8", "broker PendingNew")
        elif exec_type in _BROKER_EXEC_TRIGGERS:
            self._broker_status_change(order, exec_type, broker, cmd.text)
        elif exec_type == ExecType.RESTATED._value_:
            order.restate(cmd.order_qty)
            self._transition(order, Trigger.RESTATE, before)
            # #16: the client is owed the broker's reason (378) for the restatement; it is
            # kept in the journal's inbound row, the ExecutionReport row has no place for it
            self._report(order, ExecType.RESTATED, broker=broker, text=cmd.text,
                         restatement_reason=cmd.exec_restatement_reason)
        elif exec_type == ExecType.TRADE_CANCEL._value_:
            busted = order.bust(cmd.exec_ref_id)
            self._transition(order, Trigger.TRADE_CANCEL, before)
            self._report(order, ExecType.TRADE_CANCEL, exec_ref_id=busted.exec_id,
                         broker=broker, text=cmd.text)
        elif exec_type == ExecType.TRADE_CORRECT._value_:
            if cmd.last_qty is None or cmd.last_px is None:
                raise Overfill(f"correction {cmd.exec_id} without LastQty/LastPx")
            exec_id = self.ids.exec_id()
            old = order.correct(cmd.exec_ref_id, exec_id, cmd.last_qty, cmd.last_px,
                                cmd.exec_id)
            self._transition(order, Trigger.TRADE_CORRECT, before)
            self._report(order, ExecType.TRADE_CORRECT, exec_ref_id=old.exec_id,
                         last_qty=cmd.last_qty, last_px=cmd.last_px, broker=broker,
                         exec_id=exec_id)
        elif exec_type == ExecType.ORDER_STATUS._value_:
            self._apply_status_answer(order, cmd)
        else:
            self._event("error", order.order_id, cmd.session, "8",
                        f"ExecType {exec_type} is not handled")

    # --- what a broker report does, each in one place -----------------------------------
    def _accept(self, order: Order, broker: tuple[str, str] = ("", "")) -> None:
        """The broker has the order: New upstream."""
        before = order.status
        order.apply(Trigger.ACCEPT)
        self._transition(order, Trigger.ACCEPT, before)
        self._report(order, ExecType.NEW, broker=broker)

    def _book_fill(self, order: Order, qty: Decimal, px: Decimal, broker: tuple[str, str],
                   text: str = "") -> None:
        """Book a fill and report it upstream (ExecType Trade) under an ExecID of ours."""
        before = order.status
        exec_id = self.ids.exec_id()
        trigger = order.fill(exec_id, qty, px, broker[1])
        self._transition(order, trigger, before)
        self._report(order, ExecType.TRADE, last_qty=qty, last_px=px, broker=broker,
                     exec_id=exec_id, text=text)

    def _cancel_order(self, order: Order, broker: tuple[str, str], text: str) -> None:
        """The broker canceled the order."""
        before = order.status
        pending = order.pending
        # a cancel while our cancel is pending answers it, whichever ClOrdID the broker
        # quoted (an unsolicited cancel can cross our request on the wire)
        solicited = pending is not None and pending.kind == "cancel"
        order.apply(Trigger.CANCEL)
        self._transition(order, Trigger.CANCEL, before)
        if not solicited:
            self._answer_overtaken(order, pending, "Order was canceled")
        if solicited and pending is not None and pending.cl_ord_id:
            self._report(order, ExecType.CANCELED, cl_ord_id=pending.cl_ord_id,
                         orig_cl_ord_id=pending.orig_cl_ord_id, broker=broker, text=text)
        else:
            self._report(order, ExecType.CANCELED, broker=broker, text=text)

    def _broker_status_change(self, order: Order, exec_type: str, broker: tuple[str, str],
                              text: str) -> None:
        """DoneForDay, Expired, Suspended or Stopped, as the broker says."""
        before = order.status
        pending = order.pending
        trigger = _BROKER_EXEC_TRIGGERS[exec_type]
        order.apply(trigger)
        self._transition(order, trigger, before)
        self._answer_overtaken(order, pending, _OVERTAKEN_BY.get(exec_type, "Order changed"))
        self._report(order, ExecType(exec_type), broker=broker, text=text)

    def _answer_overtaken(self, order: Order, pending: PendingRequest | None,
                          text: str) -> None:
        """A client's cancel or replace that was pending when the broker ended or held the
        order (canceled, expired, done for the day, rejected) will get no answer from the
        broker: refuse it upstream, too late, with the order's status after the change.
        #16: the request was dropped with no word, and the client waited for good."""
        if pending is not None and order.pending is None:
            self._reject_request(order, pending, CxlRejReason.TOO_LATE_TO_CANCEL, text)

    # --- the answer to our OrderStatusRequest ----------------------------------------------
    def _replaced(self, order: Order, pending: PendingRequest, order_qty: Decimal | None,
                  broker: tuple[str, str]) -> None:
        """The broker replaced the order as we asked: its new terms, reported upstream."""
        before = order.status
        old_cl_ord_id = order.cl_ord_id
        # #16: the broker's OrderQty stands: it is the quantity it works (Appendix D
        # C.3.c raises it to CumQty when fills passed the requested quantity)
        order.replace(order_qty)
        self.by_upstream[(order.session, order.cl_ord_id)] = order
        self._transition(order, Trigger.REPLACE, before)
        self._report(order, ExecType.REPLACED, orig_cl_ord_id=pending.orig_cl_ord_id
                     or old_cl_ord_id, broker=broker)

    def _apply_status_answer(self, order: Order, cmd: ApplyBrokerReport) -> None:
        """Reconcile the order with the broker's answer to our status query (ExecType I).

        #16: after a logon whose sequence numbers were reset, the broker's resend cannot
        bring what happened while we were away: this answer is all we learn. It says the
        broker's OrdStatus, CumQty and AvgPx, not its fills, so a CumQty above ours is
        booked as one fill whose price the two AvgPx give. Its ExecID names no trade (and
        may repeat): nothing here keeps it. A CumQty below ours is an error: we never
        unbook a fill (a bust says which one)."""
        said = cmd.ord_status
        if said == OrdStatus.REJECTED._value_ and order.status is OrdStatus.PENDING_NEW:
            # #2: the broker never got this order (committed here, lost before it went
            # out): refuse it upstream
            before = order.status
            order.text = f"Broker does not know the order: {cmd.text or 'unknown'}"
            order.apply(Trigger.REJECT)
            self._transition(order, Trigger.REJECT, before)
            self._report(order, ExecType.REJECTED, text=order.text,
                         rej_reason=OrdRejReason.BROKER_OPTION._value_)
            return
        if not order.accepted and order.is_live and said != OrdStatus.REJECTED._value_:
            # the broker has the order, and its New never reached us (a broker that reset
            # its sequence numbers does not resend it): this answer is the acknowledgement
            self._accept(order)
        pending = order.pending
        if pending is not None and pending.kind == "replace" and cmd.cl_ord_id and \
                cmd.cl_ord_id == pending.child_cl_ord_id and \
                said != OrdStatus.PENDING_REPLACE._value_:
            # the broker answers under the replace's ClOrdID: it replaced the order, and
            # its Replaced report was lost with the connection (found by the crash suite
            # with a broker that resets: a replace, then fills up to the new quantity)
            self._replaced(order, pending, cmd.order_qty, ("", ""))
        if cmd.cum_qty is not None and cmd.cum_qty > order.cum_qty:
            self._book_status_fill(order, cmd)
        elif cmd.cum_qty is not None and cmd.cum_qty < order.cum_qty:
            self._event("error", order.order_id, cmd.session, "8",
                        f"broker reports CumQty {fmt(cmd.cum_qty)}, blotter has "
                        f"{fmt(order.cum_qty)}: fills are never unbooked without a bust")
        pending = order.pending
        if pending is not None and said in _BROKER_NOTHING_PENDING:
            # the broker shows no cancel/replace (it would say PendingCancel/PendingReplace,
            # FIX 4.4 OrdStatus precedence): our request never reached it, or its answer
            # was lost with the connection; say so, do not guess
            if said in _BROKER_WORKING or said == OrdStatus.DONE_FOR_DAY._value_:
                self._refuse_pending(order, pending, CxlRejReason.OTHER,
                                     "The request did not reach the broker; send it again")
            else:
                ended = "filled" if said == OrdStatus.FILLED._value_ else "expired"
                self._refuse_pending(order, pending, CxlRejReason.TOO_LATE_TO_CANCEL,
                                     f"The broker reports the order {ended}")
        if said == order.status._value_:
            return
        if said == OrdStatus.CANCELED._value_:
            self._cancel_order(order, ("", ""), cmd.text)
        elif said in (OrdStatus.EXPIRED._value_, OrdStatus.DONE_FOR_DAY._value_):
            # OrdStatus and ExecType share these codes (C, 3)
            self._broker_status_change(order, said, ("", ""), cmd.text)
        elif said == OrdStatus.FILLED._value_:
            # the booked fill takes the order to Filled; here it did not
            self._event("error", order.order_id, cmd.session, "8",
                        f"broker reports the order filled, blotter has CumQty "
                        f"{fmt(order.cum_qty)} of {fmt(order.order_qty)}")

    def _book_status_fill(self, order: Order, cmd: ApplyBrokerReport) -> None:
        """Book the CumQty the broker has and we do not as one fill (#16)."""
        assert cmd.cum_qty is not None
        qty = cmd.cum_qty - order.cum_qty
        px = None if cmd.avg_px is None else \
            inferred_price(cmd.cum_qty * cmd.avg_px - order.notional, qty)
        if px is None or px < ZERO:
            said = "no AvgPx" if cmd.avg_px is None else f"AvgPx {fmt(cmd.avg_px)}"
            self._event("error", order.order_id, cmd.session, "8",
                        f"broker reports CumQty {fmt(cmd.cum_qty)} and {said}, blotter has "
                        f"{fmt(order.cum_qty)} at AvgPx {fmt(order.avg_px)}: the "
                        f"{fmt(qty)} missing have no price; nothing booked")
            return
        assert cmd.avg_px is not None
        self._book_fill(order, qty, px, (cmd.session, ""),
                        text=f"Inferred from the broker's status answer: CumQty "
                             f"{fmt(cmd.cum_qty)}, AvgPx {fmt(cmd.avg_px)}")

    def _on_broker_cancel_reject(self, cmd: ApplyBrokerCancelReject) -> None:
        order = self._find_child(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                 cmd.broker_order_id)
        self._inbound(cmd, order.order_id if order else None, "9")
        if order is None:
            self._event("error", None, cmd.session, "9",
                        f"OrderCancelReject for unknown ClOrdID {cmd.cl_ord_id}")
            return
        pending = order.pending
        if pending is None or pending.child_cl_ord_id != cmd.cl_ord_id:
            self._event("error", order.order_id, cmd.session, "9",
                        f"OrderCancelReject for {cmd.cl_ord_id}, which is not pending")
            return
        self._refuse_pending(order, pending, cmd.reason or CxlRejReason.OTHER._value_,
                             cmd.text or "Refused by broker")

    def _refuse_pending(self, order: Order, pending: PendingRequest,
                        reason: CxlRejReason | str, text: str) -> None:
        """The broker refused our cancel or replace: back to where the order was, and
        the upstream request (if it came from upstream) gets its OrderCancelReject."""
        trigger = Trigger.CANCEL_REJECT if pending.kind == "cancel" else Trigger.REPLACE_REJECT
        before = order.status
        order.apply(trigger)
        self._transition(order, trigger, before)
        self._reject_request(order, pending, reason, text)

    def _reject_request(self, order: Order, pending: PendingRequest,
                        reason: CxlRejReason | str, text: str) -> None:
        """The OrderCancelReject for an upstream cancel or replace (none for an operator's)."""
        if pending.cl_ord_id:
            response_to = (CxlRejResponseTo.CANCEL if pending.kind == "cancel"
                           else CxlRejResponseTo.REPLACE)
            self._cancel_reject(order.session, order, pending.cl_ord_id,
                                pending.orig_cl_ord_id, response_to, reason, text)

    def _on_broker_message_reject(self, cmd: ApplyBrokerMessageReject) -> None:
        order = self.by_child.get(cmd.cl_ord_id)
        self._inbound(cmd, order.order_id if order else None, "3" if not cmd.seq_num else "j")
        if order is None:
            self._event("error", None, cmd.session, cmd.ref_msg_type,
                        f"broker refused our {cmd.ref_msg_type or '?'} for unknown ClOrdID "
                        f"{cmd.cl_ord_id or '?'}: {cmd.text}")
            return
        text = f"Refused by broker: {cmd.text}" if cmd.text else "Refused by broker"
        before = order.status
        pending = order.pending
        if cmd.ref_msg_type == "D" and cmd.cl_ord_id == order.child_cl_ord_id and \
                not order.accepted:
            order.text = text
            order.apply(Trigger.REJECT)
            self._transition(order, Trigger.REJECT, before)
            self._report(order, ExecType.REJECTED, text=text,
                         rej_reason=OrdRejReason.BROKER_OPTION._value_)
        elif pending is not None and cmd.cl_ord_id == pending.child_cl_ord_id:
            self._refuse_pending(order, pending, CxlRejReason.BROKER_OPTION, text)
        else:
            self._event("error", order.order_id, cmd.session, cmd.ref_msg_type,
                        f"broker refused our {cmd.ref_msg_type or '?'} {cmd.cl_ord_id}, "
                        f"which is not pending: {cmd.text}")

    # --- sessions, operators ------------------------------------------------------------
    def _on_logon(self, cmd: SessionLoggedOn) -> None:
        reset = cmd.reset or cmd.session in self.settings.reset_sessions
        self._event("session", None, cmd.session, "A",
                    "logged on, sequence numbers reset" if reset else "logged on")
        held = self._held.pop(cmd.session, None)
        if held:
            # #16: committed before the restart, never sent, and kept for this logon (the
            # session's sequence numbers restarted): first on the wire, before anything new
            self._event("outbox", None, cmd.session, "",
                        f"logged on: sent the {len(held)} held outbound message(s) "
                        "committed before the restart")
            self._out.extend(held)
            self._released[cmd.session] = self.outbox_committed.get(cmd.session, 0)
        if cmd.session in self.settings.reset_sessions:
            # sequence numbers restart at this logon: no resend can reach an older message
            self.seen_cl_ord_ids.pop(cmd.session, None)
        routes = {route.name for route in self.settings.routes.values()
                  if route.session == cmd.session}
        if routes:
            self._query_broker(cmd.session, routes, every_open=reset)

    def _query_broker(self, session: str, routes: set[str], *, every_open: bool) -> None:
        """After a broker logon, ask for the status of the orders routed to it that it may
        know more about than we do; the queries go out paced (``_send_status_queries``).

        Without a reset, those whose last request is unanswered (PendingNew, PendingCancel,
        PendingReplace): the request may never have reached the broker, and the session's
        resend brings whatever else the broker sent while we were away. #16: after a logon
        that reset sequence numbers no resend comes, so every open order is asked about:
        a fill during the outage is otherwise lost."""
        uncertain = (OrdStatus.PENDING_NEW, OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE)
        chosen = deque(
            order.order_id for order in self.orders.values()
            if order.route in routes and order.child_cl_ord_id
            and (order.is_live if every_open else order.status in uncertain))
        round_ = self._query_rounds[session] = self._query_rounds.get(session, 0) + 1
        self._query_waiting[session] = chosen
        self._send_status_queries(session, round_)

    def _send_status_queries(self, session: str, round_: int) -> None:
        """Query the next ``status_query_batch`` orders waiting for ``session``; if more
        wait, a timer asks the core for the next group after ``status_query_interval``. The
        core thread never sleeps: the timer queues a ``ContinueStatusQueries`` command."""
        waiting = self._query_waiting.get(session)
        if waiting is None or self._query_rounds.get(session) != round_:
            return  # the session logged out, or logged on again since: that round is over
        sent = 0
        while waiting and sent < self.settings.status_query_batch:
            order = self.orders.get(waiting.popleft())
            if order is None or not order.is_live:
                continue  # ended since the logon: nothing left to ask
            fields: list[tuple[int, str]] = []
            if order.broker_order_id:
                fields.append((37, order.broker_order_id))
            fields += [(11, order.child_cl_ord_id), (55, order.symbol),
                       (54, order.side._value_)]
            self._send(OutMessage(session, "H", fields), order.order_id)
            sent += 1
        if not waiting:
            del self._query_waiting[session]
            return
        # the interval counts from when this group is committed and sent
        later = ContinueStatusQueries(session, round_)
        delay = self.settings.status_query_interval
        self._batch.after_commit.append(
            lambda: self.timers.call_later(delay, lambda: self.submit(later)))

    def _on_continue_status_queries(self, cmd: ContinueStatusQueries) -> None:
        self._send_status_queries(cmd.session, cmd.round)

    def _on_logout(self, cmd: SessionLoggedOut) -> None:
        self._event("session", None, cmd.session, "5", "logged out")
        # #16: no more queries on this connection; the next logon asks again
        self._query_waiting.pop(cmd.session, None)

    def _on_operator_cancel(self, cmd: OperatorCancel) -> None:
        order = self.orders.get(cmd.order_id)
        try:
            if order is None:
                raise OmsError(f"unknown order {cmd.order_id}")
            if not order.is_live:
                raise OmsError(f"order {cmd.order_id} is {order.status._name_}")
            if order.status.is_pending_request:
                raise OmsError(f"order {cmd.order_id} already has a request pending")
            route = self.settings.routes.get(order.route)
            if route is None or not self.sender.is_logged_on(route.session):
                raise OmsError(f"broker {order.route or '?'} is not connected")
            self._event("admin", order.order_id, "", "F", "operator cancel requested")
            self._request_cancel(order, PendingRequest(
                kind="cancel", cl_ord_id="", orig_cl_ord_id=order.cl_ord_id,
                child_cl_ord_id=self.ids.child_cl_ord_id(), operator=True))
        except OmsError as exc:
            cmd.reply.set_result({"ok": False, "error": str(exc)})
            return
        reply = cmd.reply
        self._batch.after_commit.append(
            lambda: reply.set_result({"ok": True, "order_id": cmd.order_id,
                                      "status": "PENDING_CANCEL"}))

    def _on_recover_outbox(self, cmd: RecoverOutbox) -> None:
        if cmd.sent_through > self.outbox_sent.get(cmd.session, 0):
            self.outbox_sent[cmd.session] = cmd.sent_through
        if cmd.held:
            self._held[cmd.session] = list(cmd.held)
        self._event("outbox", None, cmd.session, "", cmd.note)

    def _on_barrier(self, cmd: Barrier) -> None:
        reply = cmd.reply
        self._batch.after_commit.append(lambda: reply.set_result(True))

    _handlers: dict[type, Callable[[Core, Any], None]] = {
        SubmitOrder: _on_submit,
        CancelOrder: _on_cancel,
        ReplaceOrder: _on_replace,
        QueryOrderStatus: _on_status,
        ApplyBrokerReport: _on_broker_report,
        ApplyBrokerCancelReject: _on_broker_cancel_reject,
        ApplyBrokerMessageReject: _on_broker_message_reject,
        SessionLoggedOn: _on_logon,
        SessionLoggedOut: _on_logout,
        ContinueStatusQueries: _on_continue_status_queries,
        OperatorCancel: _on_operator_cancel,
        RecoverOutbox: _on_recover_outbox,
        Barrier: _on_barrier,
    }


def _enum_or_none(enum_type, value):  # type: ignore[no-untyped-def]
    """The member of ``enum_type`` with this value, or None (a dict lookup: calling the
    class with a value runs Python code in ``enum``, and a miss raised and caught)."""
    members = _MEMBERS.get(enum_type)
    if members is None:
        members = _MEMBERS[enum_type] = {member._value_: member for member in enum_type}
    return members.get(value)


_MEMBERS: dict[type, dict[str, Any]] = {}
