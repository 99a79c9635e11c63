"""Routing rules (#19): which broker an order goes to, by what it says.

A rule names a broker and any of: the ExDestination (100), a symbol pattern (``AAPL*``, as
``fnmatch`` reads it, case-sensitive), the account, and bounds on the quantity. An order
matches a rule when it meets every condition the rule has. The router tries the rules in
their order, so the first that matches wins, and a later one that matches is the fallback
when the first one's broker has no session up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import translate

from oms.domain.order import Order


@dataclass(frozen=True, slots=True)
class Rule:
    broker: str
    ex_destination: str | None = None
    symbol: str | None = None  # a pattern: * any characters, ? one, [AB] one of
    account: str | None = None
    min_qty: Decimal | None = None  # OrderQty (38) at least this
    max_qty: Decimal | None = None  # ... at most this
    _symbol: re.Pattern[str] | None = field(init=False, repr=False, compare=False,
                                            default=None)

    def __post_init__(self) -> None:
        if self.symbol is not None:
            object.__setattr__(self, "_symbol", re.compile(translate(self.symbol)))

    def matches(self, order: Order) -> bool:
        if self.ex_destination is not None and order.ex_destination != self.ex_destination:
            return False
        if self.account is not None and order.account != self.account:
            return False
        if self.min_qty is not None and order.order_qty < self.min_qty:
            return False
        if self.max_qty is not None and order.order_qty > self.max_qty:
            return False
        return self._symbol is None or self._symbol.match(order.symbol) is not None

    def conditions(self) -> str:
        """The rule's conditions as text (``oms routes``); "any order" when it has none."""
        parts = [f"{name}={value}" for name, value in (
            ("ex_destination", self.ex_destination), ("symbol", self.symbol),
            ("account", self.account), ("min_qty", self.min_qty),
            ("max_qty", self.max_qty)) if value is not None]
        return " ".join(parts) or "any order"
