"""The order and its state table (FIX 4.4 Volume 4, Appendix D).

An order changes only through ``Order.apply(trigger, ...)``: the next OrdStatus comes from
one table, ``TRANSITIONS``, and quantities (CumQty, LeavesQty, AvgPx) are computed here from
the fills the order has booked, never copied from a counterparty.

The pending states (PendingCancel, PendingReplace) sit on top of a *working* state that
follows from the quantities; leaving a pending state goes to ``RESUME``, which the order
resolves to PendingNew, New, PartiallyFilled or Filled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from oms.domain.enums import OrdStatus, OrdType, Side, TimeInForce
from oms.domain.errors import InvalidStateTrigger, Overfill, UnknownExecution

ZERO = Decimal(0)
AVG_PX_QUANTUM = Decimal("1e-10")


class Trigger(StrEnum):
    """What happened to an order; the second key of the state table."""

    DENY = "DENY"  # we refused the order before routing it (risk, validation, no route)
    ACCEPT = "ACCEPT"  # the broker accepted the order (ExecType=New)
    REJECT = "REJECT"  # the broker rejected the order (ExecType=Rejected)
    PARTIAL_FILL = "PARTIAL_FILL"  # a fill that leaves quantity open
    FILL = "FILL"  # a fill that completes the order
    CANCEL_REQUEST = "CANCEL_REQUEST"  # a cancel was sent to the broker
    CANCEL_PENDING = "CANCEL_PENDING"  # the broker says the cancel is pending (ExecType=6)
    CANCEL_REJECT = "CANCEL_REJECT"  # the broker refused the cancel
    CANCEL = "CANCEL"  # the order was canceled, on request or unsolicited
    REPLACE_REQUEST = "REPLACE_REQUEST"  # a cancel/replace was sent to the broker
    REPLACE_PENDING = "REPLACE_PENDING"  # the broker says the replace is pending (ExecType=E)
    REPLACE_REJECT = "REPLACE_REJECT"  # the broker refused the replace
    REPLACE = "REPLACE"  # the broker replaced the order
    EXPIRE = "EXPIRE"  # the order's time in force ran out
    DONE_FOR_DAY = "DONE_FOR_DAY"  # the broker will not work the order further today
    SUSPEND = "SUSPEND"  # the broker suspended the order
    STOP = "STOP"  # the broker stopped (guaranteed) the order
    RESTATE = "RESTATE"  # the broker restated the order on its own (ExecType=D)
    TRADE_CANCEL = "TRADE_CANCEL"  # a fill was busted (ExecType=H)
    TRADE_CORRECT = "TRADE_CORRECT"  # a fill was corrected (ExecType=G)


class _Resume:
    """Marker: leave a pending state for the working state the quantities imply."""

    def __repr__(self) -> str:
        return "RESUME"


RESUME = _Resume()

S = OrdStatus
T = Trigger
_LIVE = (S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED)
_PENDING = (S.PENDING_CANCEL, S.PENDING_REPLACE)

TRANSITIONS: dict[tuple[OrdStatus, Trigger], OrdStatus | _Resume] = {
    # --- acknowledgement
    (S.PENDING_NEW, T.DENY): S.REJECTED,
    (S.PENDING_NEW, T.ACCEPT): S.NEW,
    (S.PENDING_NEW, T.REJECT): S.REJECTED,
    (S.PENDING_CANCEL, T.ACCEPT): S.PENDING_CANCEL,  # the ack can arrive after our cancel left
    (S.PENDING_REPLACE, T.ACCEPT): S.PENDING_REPLACE,  # same race for a replace
    (S.PENDING_CANCEL, T.REJECT): S.REJECTED,  # the broker refused the order itself
    (S.PENDING_REPLACE, T.REJECT): S.REJECTED,
    # --- fills
    (S.PENDING_NEW, T.PARTIAL_FILL): S.PARTIALLY_FILLED,  # brokers may fill before acking
    (S.PENDING_NEW, T.FILL): S.FILLED,
    (S.NEW, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.NEW, T.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.FILL): S.FILLED,
    # Appendix D: PendingCancel/PendingReplace take precedence over PartiallyFilled and
    # Filled until the broker answers the request.
    (S.PENDING_CANCEL, T.PARTIAL_FILL): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.FILL): S.PENDING_CANCEL,
    (S.PENDING_REPLACE, T.PARTIAL_FILL): S.PENDING_REPLACE,
    (S.PENDING_REPLACE, T.FILL): S.PENDING_REPLACE,
    (S.CANCELED, T.PARTIAL_FILL): S.CANCELED,  # a fill can race a cancel; it still happened
    (S.CANCELED, T.FILL): S.CANCELED,
    (S.EXPIRED, T.PARTIAL_FILL): S.EXPIRED,  # a fill can race an expiry
    (S.EXPIRED, T.FILL): S.EXPIRED,
    (S.DONE_FOR_DAY, T.PARTIAL_FILL): S.DONE_FOR_DAY,  # a late fill of the day's work
    (S.DONE_FOR_DAY, T.FILL): S.DONE_FOR_DAY,
    (S.STOPPED, T.PARTIAL_FILL): S.STOPPED,  # Appendix D L.1.a: a stopped order trades on
    (S.STOPPED, T.FILL): S.FILLED,
    # --- cancel
    (S.PENDING_NEW, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.NEW, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.DONE_FOR_DAY, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.SUSPENDED, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.STOPPED, T.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.CANCEL_PENDING): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, T.CANCEL_REJECT): RESUME,
    (S.PENDING_CANCEL, T.CANCEL): S.CANCELED,
    (S.PENDING_NEW, T.CANCEL): S.CANCELED,  # unsolicited cancel from the broker
    (S.NEW, T.CANCEL): S.CANCELED,  # unsolicited cancel from the broker
    (S.PARTIALLY_FILLED, T.CANCEL): S.CANCELED,  # unsolicited cancel from the broker
    (S.PENDING_REPLACE, T.CANCEL): S.CANCELED,  # unsolicited cancel while a replace waits
    (S.DONE_FOR_DAY, T.CANCEL): S.CANCELED,
    (S.SUSPENDED, T.CANCEL): S.CANCELED,
    (S.STOPPED, T.CANCEL): S.CANCELED,
    # --- cancel/replace
    (S.PENDING_NEW, T.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.NEW, T.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.PARTIALLY_FILLED, T.REPLACE_REQUEST): S.PENDING_REPLACE,
    (S.FILLED, T.REPLACE_REQUEST): S.PENDING_REPLACE,  # Appendix D C.1.c: raise the quantity
    (S.PENDING_REPLACE, T.REPLACE_PENDING): S.PENDING_REPLACE,
    (S.PENDING_REPLACE, T.REPLACE_REJECT): RESUME,
    (S.PENDING_REPLACE, T.REPLACE): RESUME,
    # --- end of life
    (S.PENDING_NEW, T.EXPIRE): S.EXPIRED,
    (S.NEW, T.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, T.EXPIRE): S.EXPIRED,
    (S.PENDING_CANCEL, T.EXPIRE): S.EXPIRED,  # the expiry beat the cancel
    (S.PENDING_REPLACE, T.EXPIRE): S.EXPIRED,
    (S.DONE_FOR_DAY, T.EXPIRE): S.EXPIRED,
    (S.SUSPENDED, T.EXPIRE): S.EXPIRED,
    (S.STOPPED, T.EXPIRE): S.EXPIRED,
    (S.NEW, T.DONE_FOR_DAY): S.DONE_FOR_DAY,
    (S.PARTIALLY_FILLED, T.DONE_FOR_DAY): S.DONE_FOR_DAY,
    (S.PENDING_CANCEL, T.DONE_FOR_DAY): S.DONE_FOR_DAY,
    (S.PENDING_REPLACE, T.DONE_FOR_DAY): S.DONE_FOR_DAY,
    # --- broker-side status changes
    (S.NEW, T.SUSPEND): S.SUSPENDED,
    (S.PARTIALLY_FILLED, T.SUSPEND): S.SUSPENDED,
    (S.SUSPENDED, T.RESTATE): RESUME,  # reinstated
    (S.NEW, T.STOP): S.STOPPED,
    (S.PARTIALLY_FILLED, T.STOP): S.STOPPED,
    (S.NEW, T.RESTATE): RESUME,
    (S.PARTIALLY_FILLED, T.RESTATE): RESUME,
    (S.PENDING_CANCEL, T.RESTATE): S.PENDING_CANCEL,
    (S.PENDING_REPLACE, T.RESTATE): S.PENDING_REPLACE,
    (S.DONE_FOR_DAY, T.RESTATE): RESUME,  # a GTC order renewed for the next day
    # --- trade bust and correction: quantities change, the order may come back to life
    (S.PARTIALLY_FILLED, T.TRADE_CANCEL): RESUME,
    (S.FILLED, T.TRADE_CANCEL): RESUME,  # a busted fill reopens the unfilled quantity
    (S.PENDING_CANCEL, T.TRADE_CANCEL): S.PENDING_CANCEL,
    (S.PENDING_REPLACE, T.TRADE_CANCEL): S.PENDING_REPLACE,
    (S.CANCELED, T.TRADE_CANCEL): S.CANCELED,
    (S.EXPIRED, T.TRADE_CANCEL): S.EXPIRED,
    (S.DONE_FOR_DAY, T.TRADE_CANCEL): S.DONE_FOR_DAY,
    (S.PARTIALLY_FILLED, T.TRADE_CORRECT): RESUME,
    (S.FILLED, T.TRADE_CORRECT): RESUME,
    (S.PENDING_CANCEL, T.TRADE_CORRECT): S.PENDING_CANCEL,
    (S.PENDING_REPLACE, T.TRADE_CORRECT): S.PENDING_REPLACE,
    (S.CANCELED, T.TRADE_CORRECT): S.CANCELED,
    (S.EXPIRED, T.TRADE_CORRECT): S.EXPIRED,
    (S.DONE_FOR_DAY, T.TRADE_CORRECT): S.DONE_FOR_DAY,
}

FILL_TRIGGERS = (T.PARTIAL_FILL, T.FILL)
# statuses a refused cancel/replace returns to, rather than to the working status
_HELD = (S.DONE_FOR_DAY, S.SUSPENDED, S.STOPPED)


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and without an exponent (FIX floats have none)."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent  # "n", "N" or "F" for a value that is not finite
    return normal if not isinstance(exponent, int) or exponent <= 0 \
        else normal.quantize(Decimal(1))


def next_status(status: OrdStatus, trigger: Trigger) -> OrdStatus | _Resume:
    """Look ``(status, trigger)`` up in the table; raise ``InvalidStateTrigger`` if absent."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise InvalidStateTrigger(status.name, trigger.name) from None


@dataclass(slots=True)
class Fill:
    """One booked execution: our ExecID, the broker's, quantity and price."""

    exec_id: str
    qty: Decimal
    px: Decimal
    broker_exec_id: str = ""


@dataclass(slots=True)
class PendingRequest:
    """A cancel or cancel/replace sent to the broker and not yet answered."""

    kind: str  # "cancel" or "replace"
    cl_ord_id: str  # the upstream request's ClOrdID; "" for an operator cancel
    orig_cl_ord_id: str  # the upstream ClOrdID it refers to
    child_cl_ord_id: str  # the ClOrdID we used towards the broker
    order_qty: Decimal | None = None  # replace: the new quantity
    price: Decimal | None = None  # replace: the new price
    stop_px: Decimal | None = None
    ord_type: OrdType | None = None
    time_in_force: TimeInForce | None = None
    operator: bool = False  # raised by an operator, not by the upstream client
    resume_status: OrdStatus | None = None  # where a refused request returns, if not live


@dataclass(slots=True)
class ChildOrder:
    """An order of ours at a broker, working (part of) a parent order; a DMA order has one.

    It carries what the broker knows it by (its ClOrdIDs, the broker's OrderID), the cancel
    or replace we have outstanding with the broker, and the fills the broker reported on it.
    The parent's CumQty and AvgPx are the sums of its children's fills."""

    child_id: str  # our name for it, for good: its first ClOrdID
    order_id: str  # the parent's OrderID
    route: str  # the broker's name in the config
    session: str  # the broker's FIX session key
    cl_ord_id: str  # the ClOrdID the broker knows it by now (a replace gives a new one)
    order_qty: Decimal  # the quantity asked of the broker
    prior_cl_ord_ids: tuple[str, ...] = ()  # its ClOrdIDs before ``cl_ord_id``, oldest first
    broker_order_id: str = ""
    pending: PendingRequest | None = None  # our cancel or replace the broker has not answered
    fills: list[Fill] = field(default_factory=list)
    cum_qty: Decimal = ZERO
    notional: Decimal = ZERO  # sum of qty * px over its live fills
    created_at: datetime | None = None
    # bumped when what the blotter keeps of the child changes (not its fills: those are the
    # executions' rows); ``journaled`` is the version last written (-1: never)
    version: int = 0
    journaled: int = -1

    @property
    def cl_ord_ids(self) -> tuple[str, ...]:
        """Every ClOrdID it has had, oldest first."""
        return (*self.prior_cl_ord_ids, self.cl_ord_id)

    def known_as(self, broker_order_id: str, *, journaled: bool = False) -> None:
        """The broker's OrderID for it; ``journaled``: the blotter has it already (on the
        execution row of the report that brought it), so its row need not be written."""
        self.broker_order_id = broker_order_id
        if not journaled:
            self.version += 1

    def _book(self, booked: Fill) -> None:
        self.fills.append(booked)
        self.cum_qty += booked.qty
        self.notional += booked.qty * booked.px

    def _unbook(self, booked: Fill) -> None:
        self.fills.remove(booked)
        self.cum_qty -= booked.qty
        self.notional -= booked.qty * booked.px

    def _rebook(self, old: Fill, new: Fill) -> None:
        self.fills[self.fills.index(old)] = new
        self.cum_qty += new.qty - old.qty
        self.notional += new.qty * new.px - old.qty * old.px


@dataclass(slots=True)
class Order:
    """An upstream order: its terms, its state, and the child orders that work it at
    brokers (a DMA order has one child; its quantities are the children's fills)."""

    order_id: str
    session: str  # upstream session key, e.g. "FIX.4.4:OMS->CLIENT1"
    cl_ord_id: str  # the current upstream ClOrdID (changes on replace)
    symbol: str
    side: Side
    ord_type: OrdType
    order_qty: Decimal
    price: Decimal | None = None
    stop_px: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    account: str = ""
    ex_destination: str = ""
    orig_cl_ord_id: str = ""  # the ClOrdID this one replaced, if any
    created_at: datetime | None = None
    status: OrdStatus = OrdStatus.PENDING_NEW
    # the sums of its children's live fills, kept as each fill is booked, busted or
    # corrected (on the child and here at once): CumQty, and sum of qty * px (AvgPx is
    # notional / CumQty)
    cum_qty: Decimal = ZERO
    notional: Decimal = ZERO
    accepted: bool = False  # the broker acknowledged the order at least once
    children: list[ChildOrder] = field(default_factory=list)
    text: str = ""
    version: int = 0  # bumped on every applied change; the blotter keeps the latest
    # #20: the market's quote when the order arrived (None: none for its symbol), and
    # whether it was older than the book's staleness limit then
    arrival_bid: Decimal | None = None
    arrival_ask: Decimal | None = None
    arrival_mid: Decimal | None = None
    arrival_stale: bool | None = None

    # --- the children ---------------------------------------------------------------------
    @property
    def child(self) -> ChildOrder | None:
        """The child working the order (the latest routed); None before it is routed."""
        children = self.children
        return children[-1] if children else None

    def route_to(self, child: ChildOrder) -> None:
        """The order goes to a broker as ``child`` (or, at a restart, has ``child`` there,
        with the fills it had)."""
        self.children.append(child)
        self.cum_qty += child.cum_qty
        self.notional += child.notional

    @property
    def pending(self) -> PendingRequest | None:
        """The cancel or replace the order's child has outstanding with the broker."""
        children = self.children
        return children[-1].pending if children else None

    @property
    def fills(self) -> list[Fill]:
        """Every live fill of its children."""
        children = self.children
        if len(children) == 1:
            return list(children[0].fills)
        return [booked for child in children for booked in child.fills]

    # --- derived quantities -------------------------------------------------------------
    @property
    def leaves_qty(self) -> Decimal:
        """Open quantity: zero once the order is terminal or done for the day."""
        if self.status.is_terminal or self.status is OrdStatus.DONE_FOR_DAY:
            return ZERO
        return max(self.order_qty - self.cum_qty, ZERO)

    @property
    def avg_px(self) -> Decimal:
        if self.cum_qty == ZERO:
            return ZERO
        return plain((self.notional / self.cum_qty).quantize(AVG_PX_QUANTUM))

    @property
    def is_live(self) -> bool:
        return not self.status.is_terminal

    def working_status(self) -> OrdStatus:
        """The status the quantities imply, ignoring any pending request."""
        cum_qty = self.cum_qty
        if cum_qty >= self.order_qty and cum_qty > ZERO:
            return OrdStatus.FILLED
        if cum_qty > ZERO:
            return OrdStatus.PARTIALLY_FILLED
        return OrdStatus.NEW if self.accepted else OrdStatus.PENDING_NEW

    # --- the one way to change an order ---------------------------------------------------
    def _move(self, trigger: Trigger) -> OrdStatus:
        target = TRANSITIONS.get((self.status, trigger))
        if target is None:
            raise InvalidStateTrigger(self.status.name, trigger.name, self.order_id)
        child = self.child
        pending = child.pending if child is not None else None
        if isinstance(target, _Resume):
            new_status = self.working_status()
            resume_to = pending.resume_status if pending is not None else None
            if resume_to is not None and self.status.is_pending_request and \
                    trigger in (T.CANCEL_REJECT, T.REPLACE_REJECT) and \
                    new_status is not OrdStatus.FILLED:
                # a refused request leaves the order where it was (DoneForDay, Suspended, ...)
                new_status = resume_to
        else:
            new_status = target
        if pending is not None and not new_status.is_pending_request:
            # whatever was pending has been answered or overtaken
            child.pending = None  # type: ignore[union-attr]
            child.version += 1  # type: ignore[union-attr]
        self.status = new_status
        self.version += 1
        return new_status

    def check(self, trigger: Trigger) -> None:
        """Raise ``InvalidStateTrigger`` if ``trigger`` is not legal now; change nothing."""
        if (self.status, trigger) not in TRANSITIONS:
            raise InvalidStateTrigger(self.status.name, trigger.name, self.order_id)

    def apply(self, trigger: Trigger) -> OrdStatus:
        """Apply a trigger that carries no quantities (everything but fills and replaces)."""
        if trigger in FILL_TRIGGERS or trigger in (
            T.TRADE_CANCEL,
            T.TRADE_CORRECT,
            T.REPLACE,
        ):
            raise ValueError(f"{trigger.name} carries quantities; use its own method")
        if trigger is T.ACCEPT:
            self.check(trigger)
            self.accepted = True
        return self._move(trigger)

    def _working_child(self) -> ChildOrder:
        child = self.child
        if child is None:
            raise UnknownExecution(f"order {self.order_id} has no child order at a broker")
        return child

    def fill(self, exec_id: str, qty: Decimal, px: Decimal, broker_exec_id: str = "",
             child: ChildOrder | None = None) -> Trigger:
        """Book a fill on ``child`` (by default the working one); returns the trigger
        applied (PARTIAL_FILL or FILL)."""
        if qty <= ZERO:
            raise Overfill(f"order {self.order_id}: fill quantity {qty} is not positive")
        if px < ZERO:
            raise Overfill(f"order {self.order_id}: fill price {px} is negative")
        new_cum = self.cum_qty + qty
        if new_cum > self.order_qty:
            raise Overfill(
                f"order {self.order_id}: fill of {qty} takes CumQty to {new_cum}, "
                f"above OrderQty {self.order_qty}"
            )
        trigger = T.FILL if new_cum == self.order_qty else T.PARTIAL_FILL
        self.check(trigger)
        (child or self._working_child())._book(Fill(exec_id, qty, px, broker_exec_id))
        self.cum_qty = new_cum
        self.notional += qty * px
        self.accepted = True  # a trade proves the broker took the order
        self._move(trigger)
        return trigger

    def _find_fill(self, exec_id: str) -> tuple[ChildOrder, Fill]:
        for child in self.children:
            for booked in child.fills:
                if booked.exec_id == exec_id or (
                    booked.broker_exec_id and booked.broker_exec_id == exec_id
                ):
                    return child, booked
        raise UnknownExecution(f"order {self.order_id}: no fill with ExecID {exec_id}")

    def bust(self, ref_exec_id: str) -> Fill:
        """Trade cancel (ExecType=H): remove the fill ``ref_exec_id``; returns it."""
        self.check(T.TRADE_CANCEL)
        child, busted = self._find_fill(ref_exec_id)
        child._unbook(busted)
        self.cum_qty -= busted.qty
        self.notional -= busted.qty * busted.px
        self._move(T.TRADE_CANCEL)
        return busted

    def correct(self, ref_exec_id: str, exec_id: str, qty: Decimal, px: Decimal,
                broker_exec_id: str = "") -> Fill:
        """Trade correct (ExecType=G): replace fill ``ref_exec_id`` by (qty, px)."""
        self.check(T.TRADE_CORRECT)
        child, old = self._find_fill(ref_exec_id)
        if qty <= ZERO or px < ZERO:
            raise Overfill(f"order {self.order_id}: corrected fill {qty}@{px} is not valid")
        new_cum = self.cum_qty - old.qty + qty
        if new_cum > self.order_qty:
            raise Overfill(
                f"order {self.order_id}: correction takes CumQty to {new_cum}, "
                f"above OrderQty {self.order_qty}"
            )
        child._rebook(old, Fill(exec_id, qty, px, broker_exec_id))
        self.cum_qty = new_cum
        self.notional += qty * px - old.qty * old.px
        self._move(T.TRADE_CORRECT)
        return old

    def replace(self, order_qty: Decimal | None = None) -> OrdStatus:
        """The broker confirmed the pending replace: take its new terms.

        ``order_qty`` is the OrderQty on the broker's Replaced report, if it gave one: it
        is the quantity the broker is working, so it stands over the one we asked for
        (#16: Appendix D C.3.c, fills during the pending replace took CumQty above the
        requested quantity and the broker raised OrderQty to CumQty). Only a broker
        quantity below CumQty (or not positive) is refused, and the order is left as it
        was."""
        self.check(T.REPLACE)
        request = self.pending
        if request is None or request.kind != "replace":
            raise InvalidStateTrigger(self.status.name, T.REPLACE.name, self.order_id)
        if order_qty is not None:
            if order_qty <= ZERO:
                raise Overfill(f"order {self.order_id}: the broker's Replaced report has "
                               f"OrderQty {order_qty}, which is not positive")
            if order_qty < self.cum_qty:
                raise Overfill(f"order {self.order_id}: the broker's Replaced report has "
                               f"OrderQty {order_qty}, below CumQty {self.cum_qty}")
            self.order_qty = order_qty
        elif request.order_qty is not None:
            # #16: a Replaced report without OrderQty confirms the quantity we asked for.
            # If fills while the replace was pending took CumQty above it, the broker cannot
            # be working less than it has filled: Appendix D C.3.c amends OrderQty to CumQty
            # (the order is then Filled). Refusing the report instead left the order in
            # PendingReplace for good, with the broker holding the replace as done.
            self.order_qty = max(request.order_qty, self.cum_qty)
        if request.price is not None:
            self.price = request.price
        if request.stop_px is not None:
            self.stop_px = request.stop_px
        if request.ord_type is not None:
            self.ord_type = request.ord_type
        if request.time_in_force is not None:
            self.time_in_force = request.time_in_force
        if request.cl_ord_id:
            self.orig_cl_ord_id = self.cl_ord_id
            self.cl_ord_id = request.cl_ord_id
        child = self._working_child()
        child.prior_cl_ord_ids = child.cl_ord_ids
        child.cl_ord_id = request.child_cl_ord_id
        child.order_qty = self.order_qty
        self.accepted = True  # a confirmed replace proves the broker has the order
        return self._move(T.REPLACE)

    def restate(self, order_qty: Decimal | None = None) -> OrdStatus:
        """The broker restated the order (ExecType=D), possibly with a new quantity."""
        self.check(T.RESTATE)
        if order_qty is not None and order_qty >= self.cum_qty and order_qty > ZERO:
            self.order_qty = order_qty
            child = self.child
            if child is not None and child.order_qty != order_qty:
                child.order_qty = order_qty
                child.version += 1
        return self._move(T.RESTATE)

    def request(self, pending: PendingRequest) -> OrdStatus:
        """Record a cancel or replace sent to the broker and move to the pending state."""
        trigger = T.CANCEL_REQUEST if pending.kind == "cancel" else T.REPLACE_REQUEST
        self.check(trigger)
        child = self._working_child()
        if self.status in _HELD:
            pending.resume_status = self.status
        child.pending = pending
        child.version += 1
        return self._move(trigger)


def pending_to_json(request: PendingRequest | None) -> str:
    """Serialize a pending request for the blotter ("" when there is none)."""
    if request is None:
        return ""
    data = {
        "kind": request.kind,
        "cl_ord_id": request.cl_ord_id,
        "orig_cl_ord_id": request.orig_cl_ord_id,
        "child_cl_ord_id": request.child_cl_ord_id,
        "order_qty": None if request.order_qty is None else str(request.order_qty),
        "price": None if request.price is None else str(request.price),
        "stop_px": None if request.stop_px is None else str(request.stop_px),
        "ord_type": None if request.ord_type is None else request.ord_type.value,
        "time_in_force": None if request.time_in_force is None else request.time_in_force.value,
        "operator": request.operator,
        "resume_status": None if request.resume_status is None else request.resume_status.value,
    }
    return json.dumps(data, separators=(",", ":"))


def pending_from_json(text: str) -> PendingRequest | None:
    """The inverse of ``pending_to_json``."""
    if not text:
        return None
    data = json.loads(text)

    def dec(key: str) -> Decimal | None:
        return None if data.get(key) is None else Decimal(data[key])

    return PendingRequest(
        kind=data["kind"],
        cl_ord_id=data["cl_ord_id"],
        orig_cl_ord_id=data["orig_cl_ord_id"],
        child_cl_ord_id=data["child_cl_ord_id"],
        order_qty=dec("order_qty"),
        price=dec("price"),
        stop_px=dec("stop_px"),
        ord_type=None if data.get("ord_type") is None else OrdType(data["ord_type"]),
        time_in_force=(
            None if data.get("time_in_force") is None else TimeInForce(data["time_in_force"])
        ),
        operator=bool(data.get("operator", False)),
        resume_status=(
            None if data.get("resume_status") is None else OrdStatus(data["resume_status"])
        ),
    )
