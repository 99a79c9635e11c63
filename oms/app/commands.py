"""Commands the core thread applies, in arrival order (imperative names).

The FIX layer turns each inbound message into one of these and enqueues it; nothing else
happens in the quickfix callback. Quantities and prices are already Decimals; fields that
were absent are ``None`` (or "" for strings).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from oms.app.ports import OutMessage


@dataclass(slots=True)
class SubmitOrder:
    """NewOrderSingle (D) from an upstream client."""

    session: str
    seq_num: int
    raw: str
    cl_ord_id: str
    symbol: str
    side: str
    ord_type: str
    order_qty: Decimal | None
    price: Decimal | None
    stop_px: Decimal | None
    time_in_force: str
    account: str
    ex_destination: str
    poss_resend: bool
    error: str = ""  # set by the FIX layer when a field could not be read
    poss_dup: bool = False  # PossDupFlag: a resend of a message sent before
    received_ns: int = 0  # time.perf_counter_ns() when the FIX layer took the message


@dataclass(slots=True)
class CancelOrder:
    """OrderCancelRequest (F) from an upstream client."""

    session: str
    seq_num: int
    raw: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    symbol: str
    side: str


@dataclass(slots=True)
class ReplaceOrder:
    """OrderCancelReplaceRequest (G) from an upstream client."""

    session: str
    seq_num: int
    raw: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    symbol: str
    side: str
    ord_type: str
    order_qty: Decimal | None
    price: Decimal | None
    stop_px: Decimal | None
    time_in_force: str
    error: str = ""


@dataclass(slots=True)
class QueryOrderStatus:
    """OrderStatusRequest (H) from an upstream client."""

    session: str
    seq_num: int
    raw: str
    cl_ord_id: str
    order_id: str
    symbol: str
    side: str
    ord_status_req_id: str


@dataclass(slots=True)
class ApplyBrokerReport:
    """ExecutionReport from a broker session."""

    session: str
    seq_num: int
    raw: str
    cl_ord_id: str
    orig_cl_ord_id: str
    broker_order_id: str
    exec_id: str
    exec_type: str
    ord_status: str
    last_qty: Decimal | None
    last_px: Decimal | None
    order_qty: Decimal | None
    cum_qty: Decimal | None
    exec_ref_id: str
    ord_rej_reason: str
    text: str
    poss_dup: bool
    exec_restatement_reason: str = ""  # ExecRestatementReason, passed on upstream
    # AvgPx: a status answer's CumQty and AvgPx give the fills we never saw (#16)
    avg_px: Decimal | None = None
    # #21: Commission and CommType of a fill, as the broker gave them
    commission: Decimal | None = None
    comm_type: str = ""


@dataclass(slots=True)
class ApplyDropCopy:
    """An ExecutionReport on a broker's drop-copy session (#19): the broker's copy of a
    report it sent about one of its orders for us, ours or placed elsewhere. Matched
    against our fills (``oms.app.dropcopy``), never applied to an order."""

    session: str
    seq_num: int
    raw: str
    exec_id: str  # the broker's ExecID, the one its report to the order's session carried
    exec_type: str
    ord_status: str
    cl_ord_id: str  # the order's ClOrdID at the broker (our child's, for our orders)
    broker_order_id: str
    account: str
    symbol: str
    side: str
    last_qty: Decimal | None
    last_px: Decimal | None
    transact_time: datetime | None
    copy: bool  # CopyMsgIndicator: the broker says it is a copy
    poss_dup: bool  # PossDupFlag: a resend of a message it sent before
    error: str = ""  # set by the FIX layer when a field could not be read


@dataclass(slots=True)
class CheckDropCopies:
    """A drop-copy grace period may have run out for ``broker`` (#19): queued by a timer,
    never by a FIX message. What waited longer than its grace is a break."""

    broker: str


@dataclass(slots=True)
class ApplyBrokerCancelReject:
    """OrderCancelReject from a broker session."""

    session: str
    seq_num: int
    raw: str
    cl_ord_id: str
    orig_cl_ord_id: str
    broker_order_id: str
    ord_status: str
    response_to: str
    reason: str
    text: str


@dataclass(slots=True)
class ApplyBrokerMessageReject:
    """A broker refused one of our messages outright: a session Reject or a
    BusinessMessageReject (j) referring to the D, F or G that carried ``cl_ord_id``."""

    session: str
    seq_num: int  # 0 for a session Reject: admin messages are not resent after a crash
    raw: str
    cl_ord_id: str
    ref_msg_type: str
    text: str


@dataclass(slots=True)
class SessionLoggedOn:
    """A FIX session logged on (upstream or broker)."""

    session: str
    # sequence numbers restarted at this logon (ResetSeqNumFlag 141=Y on the Logon): the
    # counterparty's resend can no longer bring what it sent before (#16)
    reset: bool = False


@dataclass(slots=True)
class SessionLoggedOut:
    """A FIX session logged out or dropped."""

    session: str


@dataclass(slots=True)
class SessionUnanswered:
    """We sent a TestRequest on a session: the counterparty has been silent for longer
    than its heartbeat interval (#19). Until it answers, the session takes no new orders."""

    session: str


@dataclass(slots=True)
class SessionAnswered:
    """The counterparty of a session we had sent a TestRequest spoke again (#19)."""

    session: str


@dataclass(slots=True)
class ExpireHeldRequest:
    """A cancel or replace held for a session that was down has waited its broker's
    ``hold_seconds`` (#19): if it is still held, it is refused to the client."""

    session: str
    child_cl_ord_id: str
    waited: float  # seconds: the hold it was given, for the client's reason


@dataclass(slots=True)
class ContinueStatusQueries:
    """Send the next paced group of status queries to a broker session (#16): queued by
    a timer, never by a FIX message. ``round`` names the logon whose queries these are, so
    a timer left over from an earlier logon does nothing."""

    session: str
    round: int


@dataclass(slots=True)
class OperatorCancel:
    """An operator asked to cancel an order (admin interface); the reply goes to ``reply``."""

    order_id: str
    reply: Future


# #21: the session an operator's orders (``oms rebalance``) belong to: no FIX session; its
# ExecutionReports are journaled like any, and sent nowhere
OPERATOR_SESSION = "OMS:OPERATOR"


@dataclass(slots=True)
class OperatorOrder:
    """#21: a new order from an operator (``oms rebalance``): ``order`` is a NewOrderSingle
    of ``OPERATOR_SESSION``, taken through the same checks and routing as a client's; the
    answer (its order id and status) goes to ``reply`` once it is committed."""

    order: SubmitOrder
    reply: Future


@dataclass(slots=True)
class RecoverOutbox:
    """At start, before any session logs on: what the outbox found for one session (#16).

    Outbound messages committed before the process stopped whose sending was never
    recorded: ``sent_through`` says the engine now holds every one up to that outbox_seq
    (sent or stored before the restart, or handed to it at this start); ``held`` are sent
    when the session logs on (its sequence numbers restart then, so the engine's store
    cannot keep them); ``note`` goes into the journal."""

    session: str
    sent_through: int
    held: list[OutMessage]
    note: str


@dataclass(slots=True)
class Barrier:
    """Resolves ``reply`` once every earlier command's batch is committed (tests, shutdown)."""

    reply: Future


Command = (
    SubmitOrder
    | CancelOrder
    | ReplaceOrder
    | QueryOrderStatus
    | ApplyBrokerReport
    | ApplyBrokerCancelReject
    | ApplyBrokerMessageReject
    | ApplyDropCopy
    | CheckDropCopies
    | SessionLoggedOn
    | SessionLoggedOut
    | SessionUnanswered
    | SessionAnswered
    | ExpireHeldRequest
    | ContinueStatusQueries
    | OperatorCancel
    | OperatorOrder
    | RecoverOutbox
    | Barrier
)
