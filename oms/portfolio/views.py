"""What ``oms positions``, ``oms pnl`` and ``oms nav`` show (#21), from position rows, each
account's start cash and a mark per symbol: the same figures from the running server's
keeper and from the rows stored in the database.

A position's mark is the symbol's last trade, else the mid of its quote, else its previous
close (``Mark``); a mark is stale when the source has no fresh quote for the symbol (a
previous close always is). A position with no mark at all is unpriced: it counts 0 in the
market values and is listed. Figures are exact Decimals; ``as_json`` gives them as strings.

Per account: cash = start cash + the cash its trades moved - fees; long and short market
value (short is negative), gross (long - short) and net (long + short) exposure; NAV = cash +
net exposure; realized (gross of fees) and unrealized P&L, fees, total P&L = realized +
unrealized - fees; each symbol's weight = its market value / NAV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms.app.records import PositionRecord
from oms.domain.numbers import fmt

ZERO = Decimal(0)
AVG_COST_QUANTUM = Decimal("1e-10")
WEIGHT_QUANTUM = Decimal("1e-6")


@dataclass(frozen=True, slots=True)
class Mark:
    price: Decimal | None
    source: str  # "last" | "mid" | "close" | "none"
    stale: bool


NO_MARK = Mark(None, "none", True)


def mark_of(last: Decimal | None, mid: Decimal | None, close: Decimal | None,
            fresh: bool) -> Mark:
    """The mark of a symbol from what the market data holds (see the module's docstring)."""
    if last is not None:
        return Mark(last, "last", not fresh)
    if mid is not None:
        return Mark(mid, "mid", not fresh)
    if close is not None:
        return Mark(close, "close", True)
    return NO_MARK


@dataclass(frozen=True, slots=True)
class PositionView:
    row: PositionRecord
    mark: Mark

    @property
    def avg_cost(self) -> Decimal | None:
        qty = self.row.qty
        return None if not qty else (self.row.cost / qty).quantize(AVG_COST_QUANTUM)

    @property
    def market_value(self) -> Decimal:
        price = self.mark.price
        return self.row.qty * price if price is not None else ZERO

    @property
    def unrealized_pnl(self) -> Decimal:
        price = self.mark.price
        return self.row.qty * price - self.row.cost if price is not None else ZERO

    @property
    def total_pnl(self) -> Decimal:
        return self.row.realized_pnl + self.unrealized_pnl - self.row.fees


@dataclass(frozen=True, slots=True)
class AccountView:
    account: str
    start_cash: Decimal
    positions: tuple[PositionView, ...]

    @property
    def cash(self) -> Decimal:
        return self.start_cash + sum((p.row.cash_flow - p.row.fees for p in self.positions),
                                     ZERO)

    @property
    def long_market_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions if p.row.qty > 0), ZERO)

    @property
    def short_market_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions if p.row.qty < 0), ZERO)

    @property
    def gross_exposure(self) -> Decimal:
        return self.long_market_value - self.short_market_value

    @property
    def net_exposure(self) -> Decimal:
        return self.long_market_value + self.short_market_value

    @property
    def nav(self) -> Decimal:
        return self.cash + self.net_exposure

    def total(self, name: str) -> Decimal:
        """The sum of a P&L figure (realized_pnl, unrealized_pnl, fees, total_pnl)."""
        if name in ("realized_pnl", "fees"):
            return sum((getattr(p.row, name) for p in self.positions), ZERO)
        return sum((getattr(p, name) for p in self.positions), ZERO)

    def weight(self, position: PositionView) -> Decimal | None:
        nav = self.nav
        return (position.market_value / nav).quantize(WEIGHT_QUANTUM) if nav else None

    @property
    def unpriced(self) -> list[str]:
        return [p.row.symbol for p in self.positions if p.row.qty and p.mark.price is None]

    @property
    def stale(self) -> list[str]:
        return [p.row.symbol for p in self.positions
                if p.row.qty and p.mark.price is not None and p.mark.stale]


def accounts(rows: Sequence[PositionRecord], start_cash: Mapping[str, Decimal],
             mark: Callable[[str], Mark], account: str | None = None) -> list[AccountView]:
    """Each account (or ``account``) with its positions marked, by name."""
    names = sorted({r.account for r in rows} | set(start_cash))
    marks: dict[str, Mark] = {}

    def marked(row: PositionRecord) -> PositionView:
        if row.symbol not in marks:
            marks[row.symbol] = mark(row.symbol)
        return PositionView(row, marks[row.symbol])

    return [AccountView(name, start_cash.get(name, ZERO),
                        tuple(marked(r) for r in rows if r.account == name))
            for name in names if account is None or name == account]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def positions_json(views: Sequence[AccountView]) -> list[dict[str, Any]]:
    return [{
        "account": view.account, "symbol": p.row.symbol, "quantity": fmt(p.row.qty),
        "avg_cost": _text(p.avg_cost), "cost": fmt(p.row.cost),
        "realized_pnl": fmt(p.row.realized_pnl), "unrealized_pnl": fmt(p.unrealized_pnl),
        "fees": fmt(p.row.fees), "total_pnl": fmt(p.total_pnl), "mark": _text(p.mark.price),
        "mark_source": p.mark.source, "mark_stale": p.mark.stale,
        "market_value": fmt(p.market_value), "weight": _text(view.weight(p)),
        "start_quantity": fmt(p.row.start_qty), "trades": p.row.trades,
    } for view in views for p in view.positions]


PNL_FIGURES = ("realized_pnl", "unrealized_pnl", "fees", "total_pnl")


def pnl_json(views: Sequence[AccountView], by_symbol: bool = False) -> list[dict[str, Any]]:
    if by_symbol:
        return [{"account": view.account, "symbol": p.row.symbol,
                 "realized_pnl": fmt(p.row.realized_pnl),
                 "unrealized_pnl": fmt(p.unrealized_pnl), "fees": fmt(p.row.fees),
                 "total_pnl": fmt(p.total_pnl)}
                for view in views for p in view.positions]
    return [{"account": view.account, **{name: fmt(view.total(name)) for name in PNL_FIGURES}}
            for view in views]


NAV_FIGURES = ("start_cash", "cash", "long_market_value", "short_market_value",
               "gross_exposure", "net_exposure", "nav")


def nav_json(views: Sequence[AccountView]) -> dict[str, Any]:
    accounts_out = [{"account": view.account,
                     **{name: fmt(getattr(view, name)) for name in NAV_FIGURES},
                     **{name: fmt(view.total(name)) for name in PNL_FIGURES},
                     "unpriced": view.unpriced, "stale": view.stale} for view in views]
    total = {name: fmt(sum((getattr(view, name) for view in views), ZERO))
             for name in NAV_FIGURES}
    total.update({name: fmt(sum((view.total(name) for view in views), ZERO))
                  for name in PNL_FIGURES})
    return {"accounts": accounts_out, "total": total}


_ROW_AMOUNTS = ("qty", "cost", "realized_pnl", "fees", "cash_flow", "start_qty", "start_cost")


def row_json(row: PositionRecord) -> dict[str, Any]:
    """A position row as JSON (GET /positions), amounts as exact text."""
    return {"account": row.account, "symbol": row.symbol,
            **{name: fmt(getattr(row, name)) for name in _ROW_AMOUNTS},
            "trades": row.trades, "updated_at": row.updated_at.isoformat()}


def row_from_json(data: Mapping[str, Any]) -> PositionRecord:
    amounts = {name: Decimal(data[name]) for name in _ROW_AMOUNTS}
    return PositionRecord(account=data["account"], symbol=data["symbol"], **amounts,
                          trades=int(data["trades"]),
                          updated_at=datetime.fromisoformat(data["updated_at"]))
