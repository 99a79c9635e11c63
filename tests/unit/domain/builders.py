"""Orders for the domain tests, put into a given state through the public Order methods.

Every order here is built honestly: it starts in PendingNew and reaches its state through
the same calls the core makes (``apply``, ``fill``, ``request``...). No status is set by
hand, so a builder that stops working is itself a finding about the state table.
"""

from __future__ import annotations

from decimal import Decimal

from oms.domain.enums import OrdStatus, OrdType, Side, TimeInForce
from oms.domain.order import ChildOrder, Order, PendingRequest, Trigger

S = OrdStatus
T = Trigger
D = Decimal

ORDER_ID = "O1"
ORDER_QTY = D(100)
# The fills every "has traded" state carries: E1 is 40 @ 10.00, and FILLED adds E2 60 @ 11.00.
FIRST_FILL_ID = "E1"
FIRST_FILL_QTY = D(40)
FIRST_FILL_PX = D("10.00")

# States reached from a partially filled order by one broker event.
_AFTER_PARTIAL_FILL = {
    S.DONE_FOR_DAY: T.DONE_FOR_DAY,
    S.CANCELED: T.CANCEL,
    S.EXPIRED: T.EXPIRE,
}


def new_order(
    order_qty: str | Decimal = ORDER_QTY,
    *,
    time_in_force: TimeInForce = TimeInForce.DAY,
) -> Order:
    """A limit order to buy, as it stands once routed: PendingNew, nothing filled, its one
    child K1 at BROKER1."""
    order = Order(
        order_id=ORDER_ID,
        session="FIX.4.4:OMS->CLIENT1",
        cl_ord_id="C1",
        symbol="ACME",
        side=Side.BUY,
        ord_type=OrdType.LIMIT,
        order_qty=D(order_qty),
        price=D("10.00"),
        time_in_force=time_in_force,
    )
    order.route_to(ChildOrder("K1", ORDER_ID, "BROKER1", "FIX.4.4:OMS->BROKER1", "K1",
                              D(order_qty)))
    return order


def cancel_request() -> PendingRequest:
    return PendingRequest(kind="cancel", cl_ord_id="C2", orig_cl_ord_id="C1", child_cl_ord_id="K2")


def replace_request(order_qty: str | Decimal = "150", price: str = "9.50") -> PendingRequest:
    return PendingRequest(
        kind="replace",
        cl_ord_id="C2",
        orig_cl_ord_id="C1",
        child_cl_ord_id="K2",
        order_qty=D(order_qty),
        price=D(price),
    )


def order_in(status: OrdStatus, *, over: OrdStatus = S.PARTIALLY_FILLED) -> Order:
    """An order of 100 in ``status``, reached through real triggers from PendingNew.

    PartiallyFilled, DoneForDay, Canceled, Expired and the pending states carry one fill,
    E1 40 @ 10.00; Filled adds E2 60 @ 11.00. A pending state sits ``over`` a working
    state (PendingNew, New or PartiallyFilled), the state its request was sent from.
    """
    order = new_order()
    if status is S.PENDING_NEW:
        return order
    if status is S.REJECTED:
        order.apply(T.REJECT)
    elif status.is_pending_request:
        order = order_in(over)
        order.request(cancel_request() if status is S.PENDING_CANCEL else replace_request())
    else:
        order.apply(T.ACCEPT)
        if status is S.SUSPENDED:
            order.apply(T.SUSPEND)
        elif status is S.STOPPED:
            order.apply(T.STOP)
        elif status is not S.NEW:
            order.fill(FIRST_FILL_ID, FIRST_FILL_QTY, FIRST_FILL_PX)
            if status is S.FILLED:
                order.fill("E2", D(60), D("11.00"))
            elif status in _AFTER_PARTIAL_FILL:
                order.apply(_AFTER_PARTIAL_FILL[status])
    if order.status is not status:
        raise AssertionError(f"builder reached {order.status.name}, wanted {status.name}")
    return order


def drive(order: Order, trigger: Trigger) -> Trigger:
    """Make ``trigger`` happen through the public method that carries it.

    Returns the trigger the order applied: for fills, the one ``Order.fill`` chose from
    the quantity (a fill of the whole open quantity is FILL, one unit is PARTIAL_FILL).
    """
    if trigger is T.CANCEL_REQUEST:
        order.request(cancel_request())
    elif trigger is T.REPLACE_REQUEST:
        order.request(replace_request())
    elif trigger is T.PARTIAL_FILL:
        return order.fill("E9", D(1), D("10.50"))
    elif trigger is T.FILL:
        return order.fill("E9", order.order_qty - order.cum_qty, D("10.50"))
    elif trigger is T.TRADE_CANCEL:
        order.bust(FIRST_FILL_ID)
    elif trigger is T.TRADE_CORRECT:
        order.correct(FIRST_FILL_ID, "E8", D(30), D("10.50"))
    elif trigger is T.REPLACE:
        order.replace()
    elif trigger is T.RESTATE:
        order.restate()
    else:
        order.apply(trigger)
    return trigger


def status_implied_by_quantities(order: Order) -> OrdStatus:
    """What FIX calls the order once nothing is pending: written here from the definitions
    of OrdStatus, independently of ``Order.working_status``."""
    if order.cum_qty > 0 and order.cum_qty == order.order_qty:
        return S.FILLED
    if order.cum_qty > 0:
        return S.PARTIALLY_FILLED
    return S.NEW if order.accepted else S.PENDING_NEW


def perform(order: Order, step: str) -> None:
    """Play one line of an Appendix D conversation, written as words.

    ``ack``, ``reject``, ``fill <ExecID> <qty> <px>``, ``bust <ExecRefID>``,
    ``correct <ExecRefID> <ExecID> <qty> <px>``, ``cancel_request``,
    ``replace_request <qty> [<price>]``, ``pending_cancel``, ``pending_replace``,
    ``cancel_reject``, ``replace_reject``, ``canceled``, ``replaced [<broker's qty>]``, ``expired``,
    ``done_for_day``, ``suspended``, ``stopped``, ``restated [<qty>]``.
    """
    verb, *args = step.split()
    simple = {
        "ack": T.ACCEPT,
        "reject": T.REJECT,
        "pending_cancel": T.CANCEL_PENDING,
        "pending_replace": T.REPLACE_PENDING,
        "cancel_reject": T.CANCEL_REJECT,
        "replace_reject": T.REPLACE_REJECT,
        "canceled": T.CANCEL,
        "expired": T.EXPIRE,
        "done_for_day": T.DONE_FOR_DAY,
        "suspended": T.SUSPEND,
        "stopped": T.STOP,
    }
    if verb in simple:
        order.apply(simple[verb])
    elif verb == "fill":
        exec_id, qty, px = args
        order.fill(exec_id, D(qty), D(px))
    elif verb == "bust":
        order.bust(args[0])
    elif verb == "correct":
        ref_exec_id, exec_id, qty, px = args
        order.correct(ref_exec_id, exec_id, D(qty), D(px))
    elif verb == "cancel_request":
        order.request(cancel_request())
    elif verb == "replace_request":
        order.request(replace_request(*args))
    elif verb == "replaced":
        order.replace(D(args[0]) if args else None)
    elif verb == "restated":
        order.restate(D(args[0]) if args else None)
    else:
        raise ValueError(f"unknown step {step!r}")
