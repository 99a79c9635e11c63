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
class PositionRecord:
    """#21: an (account, symbol)'s position after a fill, bust or correction changed it
    (``positions``, upserted; the batch keeps the latest of each)."""

    account: str
    symbol: str
    qty: Decimal  # signed: negative is short
    cost: Decimal  # signed cost basis of the open quantity
    realized_pnl: Decimal  # gross of fees
    fees: Decimal
    cash_flow: Decimal  # what its trades paid and received: sells +, buys -
    start_qty: Decimal
    start_cost: Decimal
    trades: int  # fills folded in (busted ones not counted)
    updated_at: datetime


@dataclass(slots=True)
class FillFee:
    """#21: a fill's fees (``fill_fees``), written with the fill when not zero."""

    exec_id: str
    fee: Decimal


@dataclass(frozen=True, slots=True)
class BookedExecution:
    """#21: a fill, bust or correction read back from the blotter, in booking order, for
    the position keeper (at start, and ``oms positions verify``)."""

    kind: str  # "fill" | "bust" | "correct"
    exec_id: str  # our ExecID: the fill's, or the correction's
    ref_exec_id: str  # a bust's or correction's: the fill it refers to ("" for a fill)
    account: str
    symbol: str
    side: str  # FIX Side value
    qty: Decimal  # a fill's or correction's; 0 for a bust
    px: Decimal
    fee: Decimal  # a fill's (``fill_fees``), else 0


@dataclass(frozen=True, slots=True)
class PositionStart:
    """#21: the start of a trading day (``start_positions``, ``start_cash``): its date, each
    (account, symbol)'s quantity and cost, each account's cash. ``trade_date`` None: nothing
    was loaded (every position starts flat, with the first fill stored)."""

    trade_date: str | None
    positions: tuple[tuple[str, str, Decimal, Decimal], ...] = ()
    cash: tuple[tuple[str, Decimal], ...] = ()


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
    # #21: the positions the batch changed, the latest of each (account, symbol), and the
    # fees of its fills
    positions: dict[tuple[str, str], PositionRecord] = field(default_factory=dict)
    fees: list[FillFee] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.orders or self.children or self.executions or self.events
                    or self.after_commit or self.inbound_seqs or self.drop_copies
                    or self.dropcopy_breaks or self.arrivals or self.positions)


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
