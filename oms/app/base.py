"""The core's state and the helpers every command handler uses.

``CoreBase`` holds the live orders and their indexes, the batch being built, and the ports
(journal, encoder, risk gate, router, session health). Handlers (``oms.app.requests``,
``oms.app.broker``, ``oms.app.sessions``) change orders and publish what happened
(``oms.app.events``); ``publish`` runs the subscribers, first the journal's own (the order
rows and state changes of this module), then the upstream reports (``oms.app.reports``),
then any a feature added with ``subscribe``.

Enum members are read here as ``member._value_`` and ``member._name_``, not ``.value`` and
``.name``: the same strings, but read as plain attributes. ``.value`` and ``.name`` are
properties written in Python in ``enum``, read ~40 times per order (docs/perf/README.md,
"Enum members read as `_value_`").
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from oms.app.delivery import Deliverer, Outbox
from oms.app.events import EVENT_KINDS, ChangeRefused, ChildRouted, OrderAccepted, OrderEvent
from oms.app.messages import Outbound
from oms.app.ports import (
    DropCopySource,
    Encoder,
    Journal,
    NoQuotes,
    OutMessage,
    QuoteBook,
    RiskGate,
    Router,
    Sender,
    SessionHealth,
    Timers,
)
from oms.app.records import Batch, ChildSnapshot, EventRecord, OrderSnapshot
from oms.app.reports import UpstreamReports
from oms.domain.enums import CxlRejReason
from oms.domain.ids import Ids
from oms.domain.order import ChildOrder, Order, PendingRequest, Trigger, pending_to_json

Subscriber = Callable[[OrderEvent], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        text=order.text,
        version=order.version,
        created_at=order.created_at or now,
        updated_at=now,
    )


def child_snapshot(child: ChildOrder, now: datetime) -> ChildSnapshot:
    """The blotter row for ``child`` as of ``now``."""
    return ChildSnapshot(
        child_id=child.child_id,
        order_id=child.order_id,
        route=child.route,
        session=child.session,
        cl_ord_id=child.cl_ord_id,
        prior_cl_ord_ids=" ".join(child.prior_cl_ord_ids),
        broker_order_id=child.broker_order_id,
        order_qty=child.order_qty,
        pending=pending_to_json(child.pending),
        version=child.version,
        created_at=child.created_at or now,
        updated_at=now,
    )


@dataclass
class CoreSettings:
    """What the core needs from the configuration (routes and checks are the router's
    and the risk gate's)."""

    send_pending_new: bool = False
    max_batch: int = 500
    # sessions with ResetOnLogon=Y (upstream or broker): sequence numbers restart at logon
    reset_sessions: frozenset[str] = frozenset()
    # #16: after a broker logon, at most this many status queries per interval
    status_query_batch: int = 100
    status_query_interval: float = 0.1  # seconds
    # a committed batch with at least this many messages is sent by the sender thread
    # (oms.app.delivery)
    offload_sends_from: int = 32
    # #19: the brokers' drop-copy sessions (none: the matcher does nothing)
    drop_copies: tuple[DropCopySource, ...] = ()


@dataclass
class CoreStats:
    """Counters of what the core has done, and where an order's time goes (#3: the OMS's
    ``/stats``, and ``oms bench``'s JSON). Samples are nanoseconds, the latest kept."""

    commands: int = 0
    batches: int = 0
    orders: int = 0
    # a new order's wait from the FIX callback until the core takes it (queueing behind
    # the batch being processed or committed)
    queue_wait_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    # a batch from its first command taken until the core is free again: processing,
    # rows, commit, and the sends of a small batch (a big one goes to the sender thread)
    batch_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    # sending one committed batch's messages
    send_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    # a new order's pre-trade checks: the risk gate, a live duplicate ClOrdID, the route
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


class CoreBase:
    """The live orders, the batch being built, and the ports."""

    def __init__(
        self,
        settings: CoreSettings,
        journal: Journal,
        sender: Sender,
        *,
        encoder: Encoder,
        risk: RiskGate,
        router: Router,
        health: SessionHealth,
        ids: Ids | None = None,
        clock: Callable[[], datetime] = utc_now,
        timers: Timers | None = None,
        quotes: QuoteBook | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.encoder = encoder
        self._encode = encoder.encode
        self.risk = risk
        self.router = router
        self.health = health
        # #20: the market data book, read for each new order's arrival quote
        self.quotes: QuoteBook = quotes or NoQuotes()
        self.timers: Timers = timers or ThreadTimers()
        self.ids = ids or Ids()
        self.clock = clock
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.orders: dict[str, Order] = {}  # order_id -> order
        self.by_upstream: dict[tuple[str, str], Order] = {}  # (session, ClOrdID) -> order
        # a child's ClOrdIDs (any in its chain, and a request's) -> the child
        self.by_child: dict[str, ChildOrder] = {}
        # (broker session, broker OrderID) -> the child: ClOrdID is optional on an
        # ExecutionReport, and some brokers send only OrderID on unsolicited reports
        self.by_broker_id: dict[tuple[str, str], ChildOrder] = {}
        self.seen_broker_execs: set[tuple[str, str]] = set()
        self.seen_cl_ord_ids: dict[str, set[str]] = {}  # for PossResend checks
        # #16: broker session -> the orders still to query since its logon, and the number
        # of that logon (a timer of an earlier one finds its round over)
        self._query_waiting: dict[str, deque[str]] = {}
        self._query_rounds: dict[str, int] = {}
        self.stats = CoreStats()
        self.batch = Batch()
        # #21: run as a batch is taken, to add rows made once per batch (the positions)
        self.row_makers: list[Callable[[Batch], None]] = []
        self.out: list[OutMessage] = []
        self.now = clock()
        self._dirty: dict[str, Order] = {}  # orders changed in this batch: snapshot at flush
        self._in_event: EventRecord | None = None  # the current command's inbound row
        self.outbox = Outbox()
        self.deliverer = Deliverer(sender, self.outbox, self.stats.send_ns,
                                   offload_from=settings.offload_sends_from)
        self.reports = UpstreamReports(self)
        # event class -> its subscribers, in the order they subscribed
        self._subscribers: dict[type[OrderEvent], tuple[Subscriber, ...]] = {}
        # every kind but ChildRouted: the OrderAccepted before it marked the order, and the
        # new child's row comes with it
        self.subscribe(self._journal_order_event,
                       *(kind for kind in EVENT_KINDS if kind is not ChildRouted))
        for kind, handler in self.reports.handlers.items():
            self.subscribe(handler, kind)

    @property
    def sender(self) -> Sender:
        return self.deliverer.sender

    @sender.setter
    def sender(self, sender: Sender) -> None:
        self.deliverer.sender = sender

    @property
    def outbox_committed(self) -> dict[str, int]:
        return self.outbox.committed

    @property
    def outbox_sent(self) -> dict[str, int]:
        return self.outbox.sent

    # --- restart -------------------------------------------------------------------------
    def load_outbox(self, committed: dict[str, int], sent: dict[str, int]) -> None:
        """Take the outbox marks from the blotter before starting (restart recovery)."""
        self.outbox.load(committed, sent)

    def load(self, orders: Iterable[Order], seen_broker_execs: set[tuple[str, str]],
             seen_cl_ord_ids: dict[str, set[str]] | None = None) -> None:
        """Take open orders from the blotter before starting (restart recovery)."""
        for order in orders:
            for child in order.children:
                if not child.session:  # a child stored before its session was kept
                    route = self.router.route_named(child.route)
                    child.session = route.session if route is not None else ""
                for booked in child.fills:
                    if booked.broker_exec_id:
                        self.seen_broker_execs.add((child.session, booked.broker_exec_id))
            self.index(order)
        self.seen_broker_execs |= seen_broker_execs
        for session, ids in (seen_cl_ord_ids or {}).items():
            self.seen_cl_ord_ids.setdefault(session, set()).update(ids)

    def index(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self.by_upstream[(order.session, order.cl_ord_id)] = order
        if order.orig_cl_ord_id:
            self.by_upstream.setdefault((order.session, order.orig_cl_ord_id), order)
        for child in order.children:
            for cl_ord_id in child.cl_ord_ids:
                self.by_child[cl_ord_id] = child
            if child.broker_order_id:
                self.by_broker_id[(child.session, child.broker_order_id)] = child
            pending = child.pending
            if pending is not None:
                if pending.child_cl_ord_id:
                    self.by_child[pending.child_cl_ord_id] = child
                if pending.cl_ord_id:
                    self.by_upstream[(order.session, pending.cl_ord_id)] = order

    # --- events --------------------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber, *kinds: type[OrderEvent]) -> None:
        """Run ``subscriber`` for every event of ``kinds`` (of every kind if none given),
        after those subscribed before."""
        for kind in kinds or EVENT_KINDS:
            self._subscribers[kind] = (*self._subscribers.get(kind, ()), subscriber)

    def publish(self, event: OrderEvent) -> None:
        for subscriber in self._subscribers.get(type(event), ()):
            subscriber(event)

    def _journal_order_event(self, event: OrderEvent) -> None:
        """The journal's subscriber: the order's row, and the state change noted."""
        order = event.order
        trigger = event.trigger
        if trigger is not None:
            self.note_transition(order, trigger._value_,
                                 f"{event.before._name_} -> {order.status._name_}")
        elif type(event) is OrderAccepted:
            self.note_transition(order, "SUBMIT",
                                 f"-> {order.status._name_} routed to {event.route.name}")
        self._dirty[order.order_id] = order

    # --- the batch -----------------------------------------------------------------------
    def journal_event(self, kind: str, order_id: str | None, session: str, msg_type: str,
                      body: str) -> EventRecord:
        """Add a line to the audit journal (order_events)."""
        record = EventRecord(self.now, kind, order_id, session, msg_type, body)
        self.batch.events.append(record)
        return record

    def inbound(self, command: object, order_id: str | None, msg_type: str) -> None:
        """Journal the command's inbound FIX message; the state changes it causes are
        noted on its row."""
        self._in_event = self.journal_event(
            "in", order_id, command.session, msg_type, command.raw)  # type: ignore[attr-defined]

    def _refuse_pending(self, order: Order, pending: PendingRequest,
                        reason: CxlRejReason | str, text: str) -> None:
        """Our cancel or replace was refused: back to where the order was, and the client's
        request (if it came from a client) gets its cancel reject."""
        trigger = Trigger.CANCEL_REJECT if pending.kind == "cancel" else Trigger.REPLACE_REJECT
        before = order.status
        order.apply(trigger)
        self.publish(ChangeRefused(order, before, trigger, pending,
                                   reason._value_ if isinstance(reason, CxlRejReason)
                                   else reason, text))

    def emit(self, message: Outbound, order_id: str | None) -> OutMessage:
        """Encode ``message``, journal it and send it after the batch's commit."""
        encoded = self._encode(message)
        self.send_encoded(encoded, order_id)
        return encoded

    def send_encoded(self, message: OutMessage, order_id: str | None) -> None:
        seq = self.outbox.number(message, self.batch)
        self.out.append(message)
        self.batch.events.append(EventRecord(self.now, "out", order_id, message.session,
                                             message.msg_type, message.render(), "", seq))

    def hold(self, message: Outbound, order_id: str | None, why: str) -> OutMessage:
        """Encode and journal ``message`` as ``emit`` does, but keep it for its session's
        next logon instead of sending it after the commit (#19)."""
        encoded = self._encode(message)
        seq = self.outbox.number(encoded, self.batch)
        self.outbox.hold(encoded)
        self.batch.events.append(EventRecord(self.now, "out", order_id, encoded.session,
                                             encoded.msg_type, encoded.render(), "", seq))
        self.journal_event("outbox", order_id, encoded.session, encoded.msg_type, why)
        return encoded

    def changed(self, order: Order) -> None:
        """Mark the order changed; its row is taken once, when the batch is flushed."""
        self._dirty[order.order_id] = order

    def note_transition(self, order: Order, trigger: str, change: str) -> None:
        """Journal a state change: on the row of the inbound message that caused it, or
        (an operator's request, a change no message of this order caused) on its own."""
        caused_by = self._in_event
        if caused_by is not None and caused_by.order_id == order.order_id:
            note = f"{trigger} {change}"
            caused_by.transition = f"{caused_by.transition}; {note}" if caused_by.transition \
                else note
        else:
            self.journal_event("transition", order.order_id, order.session, trigger, change)

    def take_rows(self) -> Batch:
        """The batch as built, with the rows of the orders it changed; a new one begins."""
        batch = self.batch
        if self._dirty:
            now = self.now
            batch.orders.update({oid: order_snapshot(order, now)
                                 for oid, order in self._dirty.items()})
            # a child's row when it changed: routed, acknowledged, a request, a replace
            children = batch.children
            for order in self._dirty.values():
                for child in order.children:
                    if child.version != child.journaled:
                        child.journaled = child.version
                        children[child.child_id] = child_snapshot(child, now)
            self._dirty = {}
        for make in self.row_makers:  # #21: features' rows, once per batch
            make(batch)
        self.batch = Batch()
        return batch

