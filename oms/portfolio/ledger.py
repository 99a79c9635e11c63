"""The position and cash ledger: positions per (account, symbol), P&L, cash and NAV, exact.

A position keeps its signed quantity ``qty`` (negative is short) and ``cost``, the signed
cost basis of the open quantity (long 10 bought at 100: cost 1000; short 10 sold at 100:
cost -1000). The average cost is derived from them, never stored. Why: an average price
is a quotient (10, 10 and 11 average to 10.333...), so a ledger that keeps it has to round
it, and every later fill multiplies that rounding. Sums and products of the fill texts are
exact in Decimal, so the only rounding the fold does is the share of the cost a partial
reduction removes (``cost * closed / qty``, rounded once, half-even, to ``COST_QUANTUM``),
and even that moves P&L between realized and unrealized without losing any of it: the
identities below hold with ``==``. (``avg_cost`` and NAV weights are rounded too: they
are read, never folded.)

- a fill of signed quantity q at px: opening or adding gives qty += q, cost += q * px;
  reducing realizes (-closed * px) - removed cost; a fill past flat closes, then opens the
  rest at px (a flip).
- unrealized_pnl(mark) = qty * mark - cost; realized P&L is gross of fees, fees add up apart.
- cash = start cash - sum(side * qty * px) - sum(fee) over the account's active trades.
- realized + unrealized_pnl(mark) - fees, summed over an account's symbols, equals
  NAV(mark) - (start cash + sum of start costs).

Arithmetic runs in a context that traps Inexact: a value that would need more than
``PRECISION`` digits raises instead of being rounded.

A position is the fold of its active trades, in booking order, from its start of day. A
bust or a correction refolds that one position, so it gives exactly what booking the
remaining (or corrected) trades from the start would give.

Writes come from one thread (the core). Positions and NAVs are frozen snapshots, swapped in
whole: a reader on another thread gets a position as of some fill, never half of one. A NAV
taken on another thread may straddle a fill (its cash after it, a position before it); take
it on the core's thread when it must balance to the cent.

This module does no I/O, keeps no history of past positions, does not value anything
itself (marks come from the caller) and knows nothing of orders, currencies or
settlement dates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    localcontext,
)
from types import MappingProxyType

COST_QUANTUM = Decimal("1e-10")
_UNITS = 10 ** 10  # COST_QUANTUM's units in one
PRECISION = 100
ZERO = Decimal(0)
# an overflow is also Inexact, so it raises too
_EXACT = Context(prec=PRECISION, traps=[Inexact, InvalidOperation, DivisionByZero])
# the one rounding a fold does (an exact quotient to COST_QUANTUM)
_ROUNDING = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN,
                    traps=[InvalidOperation, DivisionByZero])

PositionKey = tuple[str, str]  # (account, symbol)
Mark = Callable[[str], Decimal | None]  # symbol -> price, None when there is none


def rounded_quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator to ``COST_QUANTUM``, half-even, rounded once: a quotient
    that is an exact Decimal (most are: sizes in round lots) is quantized; one that is not
    is taken as a fraction, so no digit is rounded before the last one."""
    try:
        quotient = _EXACT.divide(numerator, denominator)
    except Inexact:
        # in integers: n/d = (a/b) / (c/e) = (a*e) / (b*c); in units of 1e-10, half-even
        a, b = numerator.as_integer_ratio()
        c, e = denominator.as_integer_ratio()
        top, bottom = a * e * _UNITS, b * c
        if bottom < 0:
            top, bottom = -top, -bottom
        units, left = divmod(top, bottom)
        if 2 * left > bottom or (2 * left == bottom and units % 2):
            units += 1
        return _EXACT.multiply(Decimal(units), COST_QUANTUM)
    rounded = quotient.quantize(COST_QUANTUM, context=_ROUNDING)
    return rounded if rounded else ZERO  # never a negative zero


def _amount(owner: str, name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise ValueError(f"{owner} {name} must be a Decimal, not {type(value).__name__}: "
                         f"only a Decimal is exact.")
    if not value.is_finite():
        raise ValueError(f"{owner} {name} must be a finite number, not {value}.")
    return value


# Trade and Position are made once per fill: plain slotted dataclasses, never changed once
# made (a frozen one costs six times as much to make); a change is a new one.
@dataclass(slots=True)
class Trade:
    """One fill booked against a position; ``key`` is our ExecID, unique in the ledger."""

    key: str
    account: str
    symbol: str
    side_sign: int  # +1 buy, -1 sell
    qty: Decimal  # > 0
    px: Decimal  # > 0
    fee: Decimal = ZERO  # in the account's cash; negative: a rebate (a broker may pay one)

    def __post_init__(self) -> None:
        # the account may be empty: an order that named none (FIX Account is optional)
        if not self.key or not self.symbol:
            raise ValueError(f"A trade needs a {'key' if not self.key else 'symbol'}.")
        if self.side_sign not in (1, -1):
            raise ValueError(f"Trade {self.key} side_sign must be 1 (buy) or -1 (sell), "
                             f"not {self.side_sign!r}.")
        # checked in one go, the sentences made only on a failure (once per fill)
        qty, px, fee = self.qty, self.px, self.fee
        if not (type(qty) is Decimal and type(px) is Decimal and type(fee) is Decimal
                and qty.is_finite() and px.is_finite() and fee.is_finite()
                and qty > 0 and px > 0):
            owner = f"Trade {self.key}"
            for name in ("qty", "px", "fee"):
                _amount(owner, name, getattr(self, name))
            if qty <= 0:
                raise ValueError(f"{owner} qty must be positive, not {qty}.")
            raise ValueError(f"{owner} px must be positive, not {px}.")

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side_sign > 0 else -self.qty

    @property
    def cash_change(self) -> Decimal:
        """What the trade does to the account's cash: a buy pays, a sell receives."""
        exact = _EXACT  # its methods: no context switch (once per fill)
        return exact.subtract(exact.minus(exact.multiply(self.signed_qty, self.px)), self.fee)


@dataclass(slots=True)
class Position:
    """One account's position in one symbol, folded from its start of day."""

    account: str
    symbol: str
    qty: Decimal = ZERO  # signed: negative is short
    cost: Decimal = ZERO  # signed cost basis of the open quantity
    realized_pnl: Decimal = ZERO  # gross of fees
    fees: Decimal = ZERO
    start_qty: Decimal = ZERO
    start_cost: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        return self.qty == 0

    @property
    def avg_cost(self) -> Decimal | None:
        """cost / qty to ``COST_QUANTUM``; None when flat. For display: never folded."""
        return None if self.is_flat else rounded_quotient(self.cost, self.qty)

    def market_value(self, mark: Decimal) -> Decimal:
        with localcontext(_EXACT):
            return self.qty * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        with localcontext(_EXACT):
            return self.qty * mark - self.cost

    def total_pnl(self, mark: Decimal) -> Decimal:
        """Realized plus unrealized P&L, net of fees."""
        with localcontext(_EXACT):
            return self.realized_pnl + self.unrealized_pnl(mark) - self.fees


def apply_fill(position: Position, signed_qty: Decimal, px: Decimal, fee: Decimal) -> Position:
    """The position after one fill of ``signed_qty`` (buy +, sell -) at ``px``, paying ``fee``."""
    # the exact context's methods, not operators in a localcontext: no context switch (once
    # per fill)
    add, multiply, subtract = _EXACT.add, _EXACT.multiply, _EXACT.subtract
    qty, cost, realized = position.qty, position.cost, position.realized_pnl
    if qty and signed_qty and (signed_qty > 0) != (qty > 0):
        closed = signed_qty if abs(signed_qty) < abs(qty) else -qty
        if closed == -qty:
            removed = cost
        else:
            removed = rounded_quotient(multiply(cost, abs(closed)), abs(qty))
        realized = subtract(subtract(realized, multiply(closed, px)), removed)
        qty = add(qty, closed)
        cost = subtract(cost, removed)
        signed_qty = subtract(signed_qty, closed)  # what is left of a flip opens below
    qty = add(qty, signed_qty)
    cost = add(cost, multiply(signed_qty, px))
    # made whole, not with dataclasses.replace (several times slower, once per fill)
    return Position(position.account, position.symbol, qty, cost, realized,
                    add(position.fees, fee), position.start_qty, position.start_cost)


@dataclass(frozen=True, slots=True)
class Nav:
    """An account's value at a set of marks; unpriced symbols count 0 and are listed."""

    account: str
    cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal  # negative, or zero
    unpriced: tuple[str, ...]  # symbols held with no mark
    market_values: Mapping[str, Decimal]  # of each symbol held and priced

    @property
    def gross_exposure(self) -> Decimal:
        with localcontext(_EXACT):
            return self.long_market_value - self.short_market_value

    @property
    def net_exposure(self) -> Decimal:
        with localcontext(_EXACT):
            return self.long_market_value + self.short_market_value

    @property
    def nav(self) -> Decimal:
        with localcontext(_EXACT):
            return self.cash + self.net_exposure

    def weight(self, symbol: str) -> Decimal | None:
        """The symbol's market value / NAV to ``COST_QUANTUM``; 0 when not held; None when
        the NAV is 0 or the symbol is unpriced."""
        nav = self.nav
        if nav == 0 or symbol in self.unpriced:
            return None
        return rounded_quotient(self.market_values.get(symbol, ZERO), nav)

    def weights(self) -> dict[str, Decimal | None]:
        return {symbol: self.weight(symbol) for symbol in (*self.market_values, *self.unpriced)}


class PositionLedger:
    """Positions and cash of every account, kept as folds of their active trades."""

    def __init__(self) -> None:
        self._trades: dict[PositionKey, dict[str, Trade]] = {}  # in booking order
        self._position_of_trade: dict[str, PositionKey] = {}
        self._starts: dict[PositionKey, Position] = {}
        self._positions: dict[PositionKey, Position] = {}
        self._start_cash: dict[str, Decimal] = {}
        self._cash_changes: dict[str, Decimal] = {}  # sum of the active trades' cash_change

    # --- writes (the core's thread) ------------------------------------------------------
    def set_start(self, account: str, symbol: str, qty: Decimal, cost: Decimal) -> Position:
        """The start-of-day position; the trades already booked are folded again from it."""
        owner = f"The start of {account} {symbol}"
        _amount(owner, "qty", qty)
        _amount(owner, "cost", cost)
        if qty == 0 and cost != 0:
            raise ValueError(f"{owner} is flat, so its cost must be 0, not {cost}.")
        self._starts[(account, symbol)] = Position(account, symbol, qty, cost,
                                                   start_qty=qty, start_cost=cost)
        return self._refold((account, symbol))

    def set_start_cash(self, account: str, cash: Decimal) -> None:
        self._start_cash[account] = _amount(f"Account {account}", "start cash", cash)

    def book(self, trade: Trade) -> Position:
        if trade.key in self._position_of_trade:
            raise ValueError(f"Trade {trade.key} is already booked; a key books once.")
        where = (trade.account, trade.symbol)
        self._position_of_trade[trade.key] = where
        trades = self._trades.get(where)
        if trades is None:
            trades = self._trades[where] = {}
        trades[trade.key] = trade
        self._add_cash(trade.account, trade.cash_change)
        before = self._positions.get(where) or self._start(where)
        position = apply_fill(before, trade.signed_qty, trade.px, trade.fee)
        self._positions[where] = position
        return position

    def bust(self, key: str) -> Position:
        """Removes the trade; its position is folded again over the trades that remain."""
        where = self._where(key)
        trade = self._trades[where].pop(key)
        del self._position_of_trade[key]
        self._add_cash(trade.account, -trade.cash_change)
        return self._refold(where)

    def correct(self, key: str, qty: Decimal, px: Decimal, fee: Decimal | None = None
                ) -> Position:
        """Replaces the trade's qty, px (and fee) where it was booked, then refolds."""
        where = self._where(key)
        old = self._trades[where][key]
        new = replace(old, qty=qty, px=px, fee=old.fee if fee is None else fee)
        self._trades[where][key] = new  # an existing key keeps its place in the order
        with localcontext(_EXACT):
            self._add_cash(old.account, new.cash_change - old.cash_change)
        return self._refold(where)

    # --- reads ---------------------------------------------------------------------------
    def position(self, account: str, symbol: str) -> Position | None:
        return self._positions.get((account, symbol))

    def positions(self, account: str | None = None) -> list[Position]:
        """Sorted by account, then symbol; flat positions included (they hold P&L)."""
        snapshot = list(self._positions.values())
        return sorted((p for p in snapshot if account is None or p.account == account),
                      key=lambda p: (p.account, p.symbol))

    def accounts(self) -> list[str]:
        return sorted({account for account, _ in list(self._positions)}
                      | set(list(self._start_cash)))

    def trades(self, account: str, symbol: str) -> list[Trade]:
        """The active trades of one position, in booking order."""
        return list(self._trades.get((account, symbol), {}).values())

    def trade_count(self, account: str, symbol: str) -> int:
        """How many active trades one position has."""
        return len(self._trades.get((account, symbol), ()))

    def position_of(self, key: str) -> PositionKey | None:
        """(account, symbol) of the active trade ``key``; None if there is none."""
        return self._position_of_trade.get(key)

    def cash(self, account: str) -> Decimal:
        with localcontext(_EXACT):
            return self._start_cash.get(account, ZERO) + self._cash_changes.get(account, ZERO)

    def nav(self, account: str, mark: Mark) -> Nav:
        long_value = short_value = ZERO
        values: dict[str, Decimal] = {}
        unpriced: list[str] = []
        with localcontext(_EXACT):
            for position in self.positions(account):
                if position.is_flat:
                    continue
                price = mark(position.symbol)
                if price is None:
                    unpriced.append(position.symbol)
                    continue
                value = values[position.symbol] = position.market_value(price)
                if position.qty > 0:
                    long_value += value
                else:
                    short_value += value
        return Nav(account, self.cash(account), long_value, short_value, tuple(unpriced),
                   MappingProxyType(values))

    def total_pnl(self, account: str, symbol: str, mark: Decimal) -> Decimal:
        position = self.position(account, symbol)
        if position is None:
            raise KeyError(f"Account {account} has no position in {symbol}.")
        return position.total_pnl(mark)

    # --- internals -----------------------------------------------------------------------
    def _start(self, where: PositionKey) -> Position:
        return self._starts.get(where) or Position(*where)

    def _where(self, key: str) -> PositionKey:
        try:
            return self._position_of_trade[key]
        except KeyError:
            raise KeyError(f"No active trade {key}: it was never booked or is busted.") from None

    def _add_cash(self, account: str, change: Decimal) -> None:
        self._cash_changes[account] = _EXACT.add(self._cash_changes.get(account, ZERO), change)

    def _refold(self, where: PositionKey) -> Position:
        position = self._start(where)
        for trade in self._trades.get(where, {}).values():
            position = apply_fill(position, trade.signed_qty, trade.px, trade.fee)
        self._positions[where] = position
        return position
