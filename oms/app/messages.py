"""What the core sends, as typed messages: no FIX tags here (``oms.fix.encode`` has them).

The core builds one of these for every message it sends and hands it to the ``Encoder``
port at once, in the core thread: the encoded text is what the journal keeps and what goes
out after the commit. A message that refers to an ``Order`` reads it when it is encoded,
so it carries the order as it stands at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from oms.domain.enums import CxlRejReason, CxlRejResponseTo, ExecType, OrdType, TimeInForce
from oms.domain.order import ZERO, Order

# OrderID on an answer about an order we do not know
NONE_ID = "NONE"


# --- to a client ---------------------------------------------------------------------------
@dataclass(slots=True)
class ExecutionReport:
    """An ExecutionReport about one of our orders, to the client that sent it."""

    order: Order
    exec_type: ExecType
    exec_id: str
    cl_ord_id: str
    transact_time: datetime
    leaves_qty: Decimal  # the order's quantities as reported (and journaled)
    avg_px: Decimal
    orig_cl_ord_id: str = ""
    last_qty: Decimal = ZERO  # trades and corrections only
    last_px: Decimal = ZERO
    exec_ref_id: str = ""  # busts and corrections: our ExecID of the fill they refer to
    text: str = ""
    rej_reason: str = ""  # OrdRejReason value on a rejection
    status_req_id: str = ""  # the client's OrdStatusReqID when it answers a status request
    restatement_reason: str = ""  # the broker's ExecRestatementReason, passed on


@dataclass(slots=True)
class UnknownOrderStatus:
    """The answer to a status request about an order we do not know (OrdStatus Rejected)."""

    session: str
    cl_ord_id: str
    order_id: str
    status_req_id: str
    symbol: str
    side: str
    exec_id: str
    transact_time: datetime


@dataclass(slots=True)
class CancelReject:
    """An OrderCancelReject: a client's cancel or replace refused."""

    session: str
    order: Order | None  # None: the order is unknown
    cl_ord_id: str
    orig_cl_ord_id: str
    response_to: CxlRejResponseTo
    reason: CxlRejReason | str  # a broker's CxlRejReason is passed on as it came
    text: str


# --- to a broker -----------------------------------------------------------------------------
@dataclass(slots=True)
class NewChildOrder:
    """A NewOrderSingle for ``order``'s child at a broker."""

    session: str
    order: Order
    cl_ord_id: str
    account: str
    transact_time: datetime


@dataclass(slots=True)
class CancelChildOrder:
    """An OrderCancelRequest for the child ``orig_cl_ord_id`` (and ``broker_order_id``)."""

    session: str
    order: Order
    cl_ord_id: str
    orig_cl_ord_id: str
    broker_order_id: str
    transact_time: datetime


@dataclass(slots=True)
class ReplaceChildOrder:
    """An OrderCancelReplaceRequest for a child: its terms after the replace, in full (FIX
    4.4 asks that unchanged fields be sent again)."""

    session: str
    order: Order
    cl_ord_id: str
    orig_cl_ord_id: str
    broker_order_id: str
    account: str
    order_qty: Decimal
    ord_type: OrdType
    price: Decimal | None
    stop_px: Decimal | None
    time_in_force: TimeInForce
    transact_time: datetime


@dataclass(slots=True)
class QueryChildStatus:
    """An OrderStatusRequest for a child, after its broker session logged on again."""

    session: str
    order: Order
    cl_ord_id: str
    broker_order_id: str


Outbound = (ExecutionReport | UnknownOrderStatus | CancelReject | NewChildOrder
            | CancelChildOrder | ReplaceChildOrder | QueryChildStatus)
