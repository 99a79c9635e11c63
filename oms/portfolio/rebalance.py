"""Rebalancing: from target weights of NAV to the trades that reach them.

``read_targets`` reads a ``symbol,weight`` file; ``plan_rebalance`` turns a portfolio (cash,
holdings, a mark per symbol) and its targets into a ``RebalancePlan``: the sells, then the
buys, each group by symbol, with the weights before and after. NAV is cash plus every
holding at its mark; trades at those marks leave it unchanged.

Rounding, one rule per side (a trade is a whole number of the symbol's lots):
- a buy stops at or below its target: the quantity is rounded down to the lot, so weights
  that sum to at most 1 less the buffer never need more cash than there is;
- a sell stops at the lot nearest its target, a tie going to the smaller trade: a sell
  raises cash, so it may aim at the target from either side.
A position whose target is zero (or that is held but not targeted) is closed whole, odd lot
included. Without ``allow_short`` no sell goes below zero: it stops at the last whole lot.

The cash limit: buys may spend the cash plus the proceeds of the planned sells, less
``cash_buffer`` of NAV. When they would cost more, every buy is scaled by the same fraction
and rounded down to its lot; the cash this leaves over stays cash (the plan does not hand it
out again). A buy cut to nothing, or a trade worth less than ``min_trade_value``, is listed
in ``skipped`` with the reason. A difference smaller than the rounding rule is no trade and
is not listed: ``weights_after`` shows it.

What this module does not do: it sends no orders and fetches no prices; it charges no fees,
commissions or spread; it does not optimise (each symbol goes to its own target, then the
buys are fitted to the cash); it does not refuse targets that sum above 1 (the cash limit
applies; only the targets file refuses them); it rounds no weight for display. Reading the
targets file is its only I/O.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_DOWN, Decimal, InvalidOperation
from typing import Literal

from oms.domain.errors import OmsError
from oms.domain.numbers import fmt
from oms.domain.order import ZERO, plain

ONE = Decimal(1)
HUNDRED = Decimal(100)
HEADER = ("symbol", "weight")

TradeSide = Literal["buy", "sell"]


class RebalanceError(OmsError, ValueError):
    """The portfolio or its targets cannot be planned (a missing mark, a short not allowed)."""


class TargetsError(RebalanceError):
    """A targets file is malformed; the message names the file and the line."""


@dataclass(frozen=True)
class PlannedTrade:
    """One trade of the plan, at the mark it was planned with."""

    symbol: str
    side: TradeSide
    qty: Decimal  # > 0
    price: Decimal

    @property
    def value(self) -> Decimal:
        return self.qty * self.price


@dataclass(frozen=True)
class RebalancePlan:
    """The trades that move a portfolio toward its targets, and what they leave."""

    nav: Decimal
    trades: list[PlannedTrade]  # sells first, then buys; each group by symbol
    weights_before: dict[str, Decimal]  # over the held and the targeted symbols
    weights_after: dict[str, Decimal]
    cash_after: Decimal
    skipped: list[tuple[str, str]]  # (symbol, why its trade is not in the plan)
    buy_scale: Decimal = ONE  # the fraction the buys were scaled to; 1: the cash covered them


def parse_targets(lines: Iterable[str], source: str) -> dict[str, Decimal]:
    """Targets from ``symbol,weight`` lines; ``source`` names them in errors ("file:line").

    A first line ``symbol,weight`` is a header; blank lines and ``#`` comments are skipped;
    a weight is a fraction (0.25) or a percentage (25%). No quoting, no other columns.
    """
    targets: dict[str, Decimal] = {}
    first_line: dict[str, int] = {}
    total = ZERO
    seen_content = False
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{number}"
        fields = [field.strip() for field in line.split(",")]
        if not seen_content and tuple(field.lower() for field in fields) == HEADER:
            seen_content = True
            continue
        seen_content = True
        if len(fields) != 2:
            raise TargetsError(f"{where}: expected 'symbol,weight', got {line!r}")
        symbol, weight_text = fields
        if not symbol:
            raise TargetsError(f"{where}: the symbol is empty")
        if symbol in targets:
            raise TargetsError(f"{where}: {symbol} is already targeted on line "
                               f"{first_line[symbol]}")
        weight = _weight(weight_text)
        if weight is None:
            raise TargetsError(f"{where}: the weight of {symbol}, {weight_text!r}, is not a "
                               "number (write 0.25 or 25%)")
        if weight < 0:
            raise TargetsError(f"{where}: the weight of {symbol} is negative ({weight_text})")
        total += weight
        if total > ONE:
            raise TargetsError(f"{where}: the weights sum to {_text(total)} with {symbol}, "
                               "above 1 (100%)")
        targets[symbol] = weight
        first_line[symbol] = number
    return targets


def read_targets(path: str | os.PathLike[str]) -> dict[str, Decimal]:
    """The targets of a ``symbol,weight`` file (see ``parse_targets``)."""
    with open(path, encoding="utf-8-sig") as file:  # utf-8-sig: a spreadsheet's BOM
        return parse_targets(file, os.fspath(path))


def _weight(text: str) -> Decimal | None:
    percent = text.endswith("%")
    try:
        weight = Decimal(text[:-1].strip() if percent else text)
    except InvalidOperation:
        return None
    if not weight.is_finite():
        return None
    return weight / HUNDRED if percent else weight


def plan_rebalance(
    *,
    cash: Decimal,
    holdings: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    targets: Mapping[str, Decimal],
    lot_size: Decimal | Mapping[str, Decimal] = ONE,
    min_trade_value: Decimal = ZERO,
    cash_buffer: Decimal = ZERO,
    allow_short: bool = False,
) -> RebalancePlan:
    """The trades that move ``holdings`` toward ``targets`` (weights of NAV) at ``prices``."""
    symbols = sorted(set(holdings) | set(targets))
    _check(symbols, prices, targets, min_trade_value, cash_buffer, allow_short)
    lots = {symbol: _lot(lot_size, symbol) for symbol in symbols}
    nav = cash + sum((quantity * prices[symbol] for symbol, quantity in holdings.items()), ZERO)
    if nav <= 0:
        raise RebalanceError(f"NAV is {_text(nav)}: weights of a portfolio worth nothing have "
                             "no quantities")
    skipped: list[tuple[str, str]] = []
    sells: list[PlannedTrade] = []
    wanted_buys: list[PlannedTrade] = []
    for symbol in symbols:
        trade = _trade_toward_target(symbol, holdings.get(symbol, ZERO), prices[symbol],
                                     targets.get(symbol, ZERO), nav, lots[symbol], allow_short)
        if trade is None:
            continue
        if trade.value < min_trade_value:
            skipped.append((symbol, _below_minimum(trade, min_trade_value)))
        else:
            (sells if trade.side == "sell" else wanted_buys).append(trade)
    proceeds = sum((trade.value for trade in sells), ZERO)
    available = cash + proceeds - cash_buffer * nav
    cost = sum((trade.value for trade in wanted_buys), ZERO)
    spendable = max(available, ZERO)
    buy_scale = ONE if cost <= spendable else spendable / cost
    buys: list[PlannedTrade] = []
    for trade in wanted_buys:
        qty = trade.qty if buy_scale == ONE else _round_down(trade.qty * buy_scale,
                                                             lots[trade.symbol])
        scaled = PlannedTrade(trade.symbol, "buy", qty, trade.price)
        if qty == 0:
            skipped.append((trade.symbol, f"the buy of {_text(trade.qty)} was cut to nothing: "
                            f"the buys cost {_text(cost)} and {_text(available)} of cash was "
                            "available"))
        elif scaled.value < min_trade_value:
            skipped.append((trade.symbol, _below_minimum(scaled, min_trade_value)))
        else:
            buys.append(scaled)
    after = {symbol: holdings.get(symbol, ZERO) for symbol in symbols}
    for trade in sells + buys:
        after[trade.symbol] += trade.qty if trade.side == "buy" else -trade.qty
    return RebalancePlan(
        nav=nav,
        trades=sells + buys,
        weights_before={s: holdings.get(s, ZERO) * prices[s] / nav for s in symbols},
        weights_after={s: after[s] * prices[s] / nav for s in symbols},
        cash_after=cash + proceeds - sum((trade.value for trade in buys), ZERO),
        skipped=skipped,
        buy_scale=buy_scale,
    )


def _check(symbols: list[str], prices: Mapping[str, Decimal], targets: Mapping[str, Decimal],
           min_trade_value: Decimal, cash_buffer: Decimal, allow_short: bool) -> None:
    for symbol in symbols:
        price = prices.get(symbol)
        if price is None:
            raise RebalanceError(f"no price for {symbol}: every symbol held or targeted "
                                 "needs a mark")
        if not price.is_finite() or price <= 0:
            raise RebalanceError(f"the price of {symbol} is {price}: a mark must be positive")
    for symbol, weight in targets.items():
        if not weight.is_finite():
            raise RebalanceError(f"the target weight of {symbol} is {weight}")
        if weight < 0 and not allow_short:
            raise RebalanceError(f"the target weight of {symbol} is {_text(weight)}: a short "
                                 "target needs allow_short")
    if not ZERO <= cash_buffer < ONE:
        raise RebalanceError(f"the cash buffer is {cash_buffer}: it is a fraction of NAV "
                             "from 0 up to 1")
    if min_trade_value < 0:
        raise RebalanceError(f"the minimum trade value is negative ({min_trade_value})")


def _lot(lot_size: Decimal | Mapping[str, Decimal], symbol: str) -> Decimal:
    lot = lot_size.get(symbol, ONE) if isinstance(lot_size, Mapping) else lot_size
    if not lot.is_finite() or lot <= 0:
        raise RebalanceError(f"the lot size of {symbol} is {lot}: it must be positive")
    return lot


def _trade_toward_target(symbol: str, held: Decimal, price: Decimal, weight: Decimal,
                         nav: Decimal, lot: Decimal, allow_short: bool) -> PlannedTrade | None:
    """The trade of one symbol by the rounding rules above, or None when there is none."""
    if weight == 0:
        difference = -held  # closed whole
    else:
        difference = weight * nav / price - held
        if difference > 0:
            difference = _round_down(difference, lot)
        else:
            sell = _round_nearest_smaller(-difference, lot)
            if not allow_short:
                sell = min(sell, _round_down(max(held, ZERO), lot))
            difference = -sell
    if difference == 0:
        return None
    side: TradeSide = "buy" if difference > 0 else "sell"
    return PlannedTrade(symbol, side, abs(difference), price)


def _round_down(quantity: Decimal, lot: Decimal) -> Decimal:
    """``quantity`` (>= 0) down to a whole number of lots."""
    return (quantity / lot).to_integral_value(rounding=ROUND_FLOOR) * lot


def _round_nearest_smaller(quantity: Decimal, lot: Decimal) -> Decimal:
    """``quantity`` (>= 0) to the nearest whole number of lots, half a lot rounding down."""
    return (quantity / lot).to_integral_value(rounding=ROUND_HALF_DOWN) * lot


def _below_minimum(trade: PlannedTrade, minimum: Decimal) -> str:
    return (f"the {trade.side} of {_text(trade.qty)} at {_text(trade.price)} is worth "
            f"{_text(trade.value)}, below the minimum trade value of {_text(minimum)}")


def _text(value: Decimal) -> str:
    """``value`` for a message: plain digits, no trailing zeros (100.0 reads 100)."""
    return fmt(plain(value))
