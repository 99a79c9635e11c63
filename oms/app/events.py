"""What happened to an order, in the past tense: the core publishes these inside the batch.

A command handler changes the order (``Order.apply`` and its kin), then publishes one event
saying what changed. Subscribers run on the core thread, in the order they subscribed,
before the next command: they may add journal records and outbound messages to the same
batch, which commits them together. The journal's order rows and state changes
(``oms.app.core``), the upstream ExecutionReports (``oms.app.reports``), the drop-copy
matcher (``oms.app.dropcopy``) and the position keeper (``oms.app.positions``) subscribe. A
subscriber reads the event and the order; it never changes the order.

Every event names the order, its status before the change and the trigger of the state
table that changed it (None, with ``before`` the status it still has, when none did).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms.app.ports import Route
from oms.domain.enums import ExecType, OrdStatus
from oms.domain.order import ChildOrder, Fill, Order, PendingRequest, Trigger

# what a broker report said of itself: (broker session, the broker's ExecID, the broker's
# OrderID); ("", "", "") for a change no broker report made
Broker = tuple[str, str, str]
NO_BROKER: Broker = ("", "", "")


@dataclass(slots=True)
class OrderEvent:
    order: Order
    before: OrdStatus
    trigger: Trigger | None  # None: the order's state did not change


@dataclass(slots=True)
class OrderAccepted(OrderEvent):
    """We took a new order in: it passed the risk gate and has a route."""

    route: Route


@dataclass(slots=True)
class OrderDenied(OrderEvent):
    """We refused a new order before routing it."""

    reason: str
    code: str  # OrdRejReason value


@dataclass(slots=True)
class ChildRouted(OrderEvent):
    """A child order went to a broker (its NewOrderSingle is in the batch)."""

    route: Route
    child: ChildOrder


@dataclass(slots=True)
class OrderAcknowledged(OrderEvent):
    """The broker accepted the order."""

    broker: Broker


@dataclass(slots=True)
class OrderRejected(OrderEvent):
    """The broker refused the order (or never got it)."""

    text: str
    code: str  # OrdRejReason value
    broker: Broker
    overtaken: PendingRequest | None  # a client's request the rejection left unanswered


@dataclass(slots=True)
class OrderFilled(OrderEvent):
    """A fill of ``child`` was booked (``trigger`` says partial or full)."""

    child: ChildOrder
    exec_id: str  # our ExecID of the fill
    qty: Decimal
    px: Decimal
    broker: Broker
    text: str = ""
    # #21: the broker's Commission and CommType on the report, when it gave them
    commission: Decimal | None = None
    comm_type: str = ""


@dataclass(slots=True)
class FillBusted(OrderEvent):
    """The broker canceled a fill."""

    busted: Fill
    broker: Broker
    text: str


@dataclass(slots=True)
class FillCorrected(OrderEvent):
    """The broker corrected a fill: ``old`` is replaced by ``exec_id``, qty at px."""

    old: Fill
    exec_id: str
    qty: Decimal
    px: Decimal
    broker: Broker


@dataclass(slots=True)
class OrderCanceled(OrderEvent):
    """The order was canceled: at a request (``request``) or by the broker on its own."""

    broker: Broker
    text: str
    request: PendingRequest | None  # the cancel this answers, if it was asked for
    overtaken: PendingRequest | None  # a replace the cancel left unanswered


@dataclass(slots=True)
class OrderReplaced(OrderEvent):
    """The broker replaced the order as asked."""

    orig_cl_ord_id: str
    broker: Broker


@dataclass(slots=True)
class OrderRestated(OrderEvent):
    """The broker changed the order on its own (ExecType Restated)."""

    broker: Broker
    text: str
    reason: str  # the broker's ExecRestatementReason value


@dataclass(slots=True)
class OrderStatusChanged(OrderEvent):
    """The broker says the order is done for the day, expired, suspended or stopped."""

    exec_type: ExecType
    broker: Broker
    text: str
    overtaken: PendingRequest | None
    overtaken_text: str


@dataclass(slots=True)
class ChangeRequested(OrderEvent):
    """A cancel or replace went to the broker (``request``)."""

    request: PendingRequest


@dataclass(slots=True)
class ChangePending(OrderEvent):
    """The broker says our cancel or replace is pending, or we do (#19: ``NO_BROKER``, the
    request held while its session is down)."""

    exec_type: ExecType
    request: PendingRequest | None
    broker: Broker


@dataclass(slots=True)
class ChangeRefused(OrderEvent):
    """Our cancel or replace was refused (by the broker, or it never reached it)."""

    request: PendingRequest
    reason: str  # CxlRejReason value
    text: str


# every kind of order event (a subscriber to "all events" subscribes to these)
EVENT_KINDS: tuple[type[OrderEvent], ...] = (
    OrderAccepted, OrderDenied, ChildRouted, OrderAcknowledged, OrderRejected, OrderFilled,
    FillBusted, FillCorrected, OrderCanceled, OrderReplaced, OrderRestated,
    OrderStatusChanged, ChangeRequested, ChangePending, ChangeRefused,
)
