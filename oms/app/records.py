"""What the core hands to the journal: plain records, no ORM, no FIX engine objects.

The core builds one ``Batch`` per group of commands it processed. The journal writer
(``oms.store.journal``) writes the whole batch in one transaction and, only after the commit,
calls ``Batch.after_commit`` (which sends the batch's outbound FIX messages). Nothing is
acknowledged upstream or sent to a broker before it is durable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(slots=True)
class OrderSnapshot:
    """The latest state of one order; the blotter upserts it by ``order_id``."""

    order_id: str
    session: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str  # FIX Side value
    ord_type: str  # FIX OrdType value
    time_in_force: str  # FIX TimeInForce value
    order_qty: Decimal
    price: Decimal | None
    stop_px: Decimal | None
    account: str
    ex_destination: str
    status: str  # FIX OrdStatus value
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    notional: Decimal
    accepted: bool
    text: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class ArrivalQuote:
    """#20: the market's quote when an order arrived (``order_arrivals``), written once,
    with the order's first row."""

    order_id: str
    bid: Decimal | None
    ask: Decimal | None
    mid: Decimal | None
    stale: bool  # older than [marketdata] stale_after then


@dataclass(slots=True)
class ChildSnapshot:
    """The latest state of one child order at a broker; upserted by ``child_id``."""

    child_id: str
    order_id: str  # the parent
    route: str  # the broker's name in the config
    session: str  # the broker's FIX session key
    cl_ord_id: str  # its ClOrdID at the broker now
    prior_cl_ord_ids: str  # its earlier ClOrdIDs, oldest first, space-separated
    broker_order_id: str
    order_qty: Decimal
    pending: str  # JSON of the cancel/replace it has outstanding, "" if none
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class ExecutionRecord:
    """One execution we reported upstream (fills, busts, corrections, status changes)."""

    exec_id: str  # our ExecID, unique
    order_id: str
    exec_type: str  # FIX ExecType value
    ord_status: str  # FIX OrdStatus value after this execution
    last_qty: Decimal  # 0 when not a trade
    last_px: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    exec_ref_id: str  # for busts/corrections: our ExecID of the fill it refers to
    broker_session: str  # "" for executions we originated
    broker_exec_id: str  # the broker's ExecID, "" for ours; unique per broker_session
    transact_time: datetime
    text: str = ""
    child_id: str = ""  # the child order whose execution it is ("" for ours alone)
    # the broker's OrderID on the report it came from: how the blotter keeps a child's
    # broker OrderID without writing the child's row again (#17)
    broker_order_id: str = ""


@dataclass(slots=True)
class EventRecord:
    """One line of the append-only audit journal (order_events)."""

    ts: datetime
    kind: str  # "in" | "out" | "transition" | "error" | "admin"
    order_id: str | None
    session: str
    msg_type: str  # FIX MsgType for in/out; trigger name for transitions; "" otherwise
    body: str  # the FIX message with | separators, or a human sentence
    # on an "in" row: the state change(s) the message caused, e.g. "FILL NEW -> FILLED"
    # (#3: one row fewer per transition; a transition no message caused has its own row)
    transition: str = ""
    # on an "out" row: the message's place in its session's outbox (#16), else None
    outbox_seq: int | None = None


@dataclass(slots=True)
class DropCopyRecord:
    """One ExecutionReport received on a drop-copy session (#19), as it came."""

    received_at: datetime
    session: str  # the drop-copy session it arrived on
    broker_exec_id: str
    exec_type: str  # FIX ExecType value
    ord_status: str  # FIX OrdStatus value
    cl_ord_id: str
    broker_order_id: str
    account: str
    symbol: str
    side: str  # FIX Side value
    last_qty: Decimal  # 0 when not given
    last_px: Decimal
    transact_time: datetime | None
    raw: str  # the FIX message with | separators


@dataclass(slots=True)
class DropCopyBreak:
    """A difference between a broker's drop copy and our fills (#19), found once; an
    operator acknowledges it (``oms dropcopy ack``), which the core never does."""

    found_at: datetime
    kind: str  # external | missing | qty | px | side | duplicate
    session: str  # the drop-copy session ("" for a fill of ours no copy arrived for)
    broker: str
    broker_exec_id: str
    exec_id: str  # our ExecID of the fill, "" when we have none
    order_id: str  # ours, "" when the fill is not ours
    symbol: str
    side: str  # FIX Side value
    qty: Decimal | None
    px: Decimal | None
    detail: str  # in words, both sides' values where they differ
    acked_at: datetime | None = None
    ack_comment: str = ""


@dataclass(slots=True)
class Batch:
    """Everything one group of commands produced, to be committed together."""

    orders: dict[str, OrderSnapshot] = field(default_factory=dict)  # latest per order_id
    children: dict[str, ChildSnapshot] = field(default_factory=dict)  # latest per child_id
    executions: list[ExecutionRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    inbound_seqs: dict[str, int] = field(default_factory=dict)  # session -> last MsgSeqNum
    # #16, the outbox: session -> the outbox_seq of its last outbound message in this batch
    outbound: dict[str, int] = field(default_factory=dict)
    # session -> the last outbox_seq the FIX engine had been handed when the batch was made
    # (written with a batch that has rows of its own, never alone)
    out_sent: dict[str, int] = field(default_factory=dict)
    # #19: drop-copy reports received, and the breaks found, in this batch
    drop_copies: list[DropCopyRecord] = field(default_factory=list)
    dropcopy_breaks: list[DropCopyBreak] = field(default_factory=list)
    # #20: the arrival quotes of the orders that arrived in this batch
    arrivals: list[ArrivalQuote] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.orders or self.children or self.executions or self.events
                    or self.after_commit or self.inbound_seqs or self.drop_copies
                    or self.dropcopy_breaks or self.arrivals)


@dataclass(frozen=True, slots=True)
class LoadedFill:
    """A fill of ours read back from the blotter at start (``load_drop_copies``)."""

    exec_id: str
    order_id: str
    broker_session: str  # the broker session of its child
    broker_exec_id: str
    broker_order_id: str
    child_cl_ord_ids: tuple[str, ...]
    symbol: str
    side: str
    qty: Decimal
    px: Decimal
    at: datetime  # booked (TransactTime)


@dataclass(frozen=True, slots=True)
class LoadedCopy:
    """A drop-copy trade read back from ``drop_copies`` at start."""

    session: str
    broker_exec_id: str
    cl_ord_id: str
    broker_order_id: str
    symbol: str
    side: str
    qty: Decimal
    px: Decimal
    at: datetime  # received
