"""The pre-trade ``RiskGate`` of today: the checks on an order's fields.

Each check returns why the request cannot go ahead, in words the client reads (naming the
FIX field and its tag), or nothing. The order path asks before anything reaches a broker,
and before a broker's report changes an order; risk limits (#22) join these checks here.
"""

from __future__ import annotations

from decimal import Decimal

from oms.app.commands import ApplyBrokerReport, CancelOrder, ReplaceOrder, SubmitOrder
from oms.app.ports import Denial
from oms.domain.enums import OrdRejReason, OrdType, Side, TimeInForce, member_or_none
from oms.domain.numbers import fmt, too_many_digits
from oms.domain.order import ZERO, Order

_OTHER = OrdRejReason.OTHER._value_
_QUANTITY = OrdRejReason.INCORRECT_QUANTITY._value_


class FieldChecks:
    """``RiskGate``: required fields, supported values, positive quantities and prices of
    at most ``max_digits`` digits, and (when configured) a known symbol."""

    def __init__(self, *, max_digits: int = 15, symbols: frozenset[str] = frozenset()
                 ) -> None:
        self.max_digits = max_digits
        self.symbols = symbols  # empty: any symbol

    def check_new(self, request: SubmitOrder, order: Order) -> Denial | None:
        if request.error:
            return Denial(request.error, _OTHER)
        if not request.symbol:
            return Denial("Symbol (55) is required", _OTHER)
        if member_or_none(Side, request.side) is None:
            return Denial(f"Side (54) {request.side!r} is not supported", _OTHER)
        ord_type = member_or_none(OrdType, request.ord_type)
        if ord_type is None:
            return Denial(f"OrdType (40) {request.ord_type!r} is not supported", _OTHER)
        if member_or_none(TimeInForce, request.time_in_force or "0") is None:
            return Denial(f"TimeInForce (59) {request.time_in_force!r} is not supported",
                          _OTHER)
        if request.order_qty is None:
            return Denial("OrderQty (38) is required", _QUANTITY)
        problem = self._amount("OrderQty (38)", request.order_qty)
        if problem:
            return Denial(problem, _QUANTITY)
        if ord_type.needs_price and request.price is None:
            return Denial("Price (44) is required for a limit order", _OTHER)
        problem = self._amount("Price (44)", request.price)
        if problem:
            return Denial(problem, _OTHER)
        if ord_type.needs_stop_px and request.stop_px is None:
            return Denial("StopPx (99) is required for a stop order", _OTHER)
        problem = self._amount("StopPx (99)", request.stop_px)
        if problem:
            return Denial(problem, _OTHER)
        if self.symbols and request.symbol not in self.symbols:
            return Denial(f"Unknown symbol {request.symbol}",
                          OrdRejReason.UNKNOWN_SYMBOL._value_)
        return None

    def check_amend(self, request: CancelOrder | ReplaceOrder, order: Order) -> str:
        if request.side and request.side != order.side._value_:
            return f"Side (54) {request.side} does not match the order"
        if request.symbol and request.symbol != order.symbol:
            return f"Symbol (55) {request.symbol} does not match the order"
        return ""

    def check_replace(self, request: ReplaceOrder, order: Order) -> str:
        if request.error:
            return request.error
        ord_type = member_or_none(OrdType, request.ord_type) if request.ord_type \
            else order.ord_type
        if ord_type is None:
            return f"OrdType (40) {request.ord_type!r} is not supported"
        if request.time_in_force and member_or_none(TimeInForce, request.time_in_force) is None:
            return f"TimeInForce (59) {request.time_in_force!r} is not supported"
        problem = self._amount("OrderQty (38)", request.order_qty)
        if problem:
            return problem
        if request.order_qty is not None and request.order_qty < order.cum_qty:
            return (f"OrderQty (38) {fmt(request.order_qty)} is below the "
                    f"quantity already filled ({fmt(order.cum_qty)})")
        price = request.price if request.price is not None else order.price
        if ord_type.needs_price and price is None:
            return "Price (44) is required for a limit order"
        return self._amount("Price (44)", request.price) or \
            self._amount("StopPx (99)", request.stop_px)

    def check_report(self, report: ApplyBrokerReport) -> str:
        limit = self.max_digits
        for value, name in ((report.last_qty, "LastQty (32)"), (report.last_px, "LastPx (31)"),
                            (report.cum_qty, "CumQty (14)"),
                            (report.order_qty, "OrderQty (38)")):
            if value is not None and too_many_digits(value, limit):
                return f"{name} has more than {limit} significant digits"
        return ""

    def _amount(self, name: str, value: Decimal | None) -> str:
        """A quantity or price that is too long or not positive, said; "" if none."""
        if value is None:
            return ""
        if too_many_digits(value, self.max_digits):
            return f"{name} has more than {self.max_digits} significant digits"
        if value <= ZERO:
            return f"{name} must be positive, got {fmt(value)}"
        return ""
