"""The position keeper's reads and the start of a day's writes (#21).

The journal writes ``positions`` and ``fill_fees`` in the commit of each fill
(``oms.store.journaled``); this module reads them back, reads the day's fills, busts and
corrections in booking order (``executions.seq``) for a rebuild, and writes a day's start
(``oms positions load``), the one write outside the journal: it touches no row the journal
writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oms.app.records import BookedExecution, PositionRecord, PositionStart
from oms.store.repository import TRADE, TRADE_CANCEL, TRADE_CORRECT
from oms.store.schema import (
    executions,
    fill_fees,
    orders,
    positions,
    start_cash,
    start_positions,
)

_KINDS = {TRADE: "fill", TRADE_CANCEL: "bust", TRADE_CORRECT: "correct"}
ZERO = Decimal(0)


def day_start(trade_date: str) -> datetime:
    """00:00 UTC of ``trade_date`` (YYYY-MM-DD): the fills of the day are booked from it."""
    return datetime.combine(date.fromisoformat(trade_date), time(), UTC)


def load_start(engine: Engine, upto: date | None = None) -> PositionStart:
    """The latest day's start loaded (on or before ``upto``), or none."""
    p, c = start_positions.c, start_cash.c
    with engine.connect() as connection:
        dates = [row[0] for row in connection.execute(
            sa.union(sa.select(p.trade_date), sa.select(c.trade_date)))]
        if upto is not None:
            dates = [d for d in dates if d <= upto.isoformat()]
        if not dates:
            return PositionStart(None)
        trade_date = max(dates)
        held = tuple((account, symbol, Decimal(qty), Decimal(cost))
                     for account, symbol, qty, cost in connection.execute(
                         sa.select(p.account, p.symbol, p.qty, p.cost)
                         .where(p.trade_date == trade_date)
                         .order_by(p.account, p.symbol)))
        cash = tuple((account, Decimal(amount)) for account, amount in connection.execute(
            sa.select(c.account, c.cash).where(c.trade_date == trade_date)
            .order_by(c.account)))
    return PositionStart(trade_date, held, cash)


def load_booked(engine: Engine, since: datetime | None) -> list[BookedExecution]:
    """The fills, busts and corrections booked since ``since`` (all without it), in booking
    order, with their orders' account, symbol and side and the fills' fees."""
    e, o, f = executions.c, orders.c, fill_fees.c
    query = (
        sa.select(e.exec_type, e.exec_id, e.exec_ref_id, o.account, o.symbol, o.side,
                  e.last_qty, e.last_px, f.fee)
        .join(orders, o.order_id == e.order_id)
        .outerjoin(fill_fees, f.exec_id == e.exec_id)
        .where(e.exec_type.in_(list(_KINDS)))
        .order_by(e.seq))
    if since is not None:
        query = query.where(e.transact_time >= since)
    with engine.connect() as connection:
        return [BookedExecution(_KINDS[exec_type], exec_id, ref, account, symbol, side,
                                Decimal(qty), Decimal(px), Decimal(fee) if fee is not None
                                else ZERO)
                for exec_type, exec_id, ref, account, symbol, side, qty, px, fee
                in connection.execute(query)]


def load_positions(engine: Engine) -> list[PositionRecord]:
    """The positions as the journal last wrote them, by account and symbol."""
    c = positions.c
    with engine.connect() as connection:
        rows = connection.execute(sa.select(positions).order_by(c.account, c.symbol))
        return [PositionRecord(
            row.account, row.symbol, Decimal(row.qty), Decimal(row.cost),
            Decimal(row.realized_pnl), Decimal(row.fees), Decimal(row.cash_flow),
            Decimal(row.start_qty), Decimal(row.start_cost), row.trades, row.updated_at)
            for row in rows]


def write_start(engine: Engine, trade_date: str,
                held: Iterable[tuple[str, str, Decimal, Decimal]],
                cash: Iterable[tuple[str, Decimal]]) -> None:
    """A day's start, replacing one loaded before for that date (in one transaction)."""
    with engine.begin() as connection:
        connection.execute(sa.delete(start_positions)
                           .where(start_positions.c.trade_date == trade_date))
        connection.execute(sa.delete(start_cash).where(start_cash.c.trade_date == trade_date))
        rows = [{"trade_date": trade_date, "account": a, "symbol": s, "qty": q, "cost": c}
                for a, s, q, c in held]
        if rows:
            connection.execute(sa.insert(start_positions), rows)
        amounts = [{"trade_date": trade_date, "account": a, "cash": amount}
                   for a, amount in cash]
        if amounts:
            connection.execute(sa.insert(start_cash), amounts)


def replace_positions(engine: Engine, rows: Iterable[PositionRecord]) -> None:
    """All of ``positions`` replaced by ``rows`` (the server's start, before the core
    runs: the rows rebuilt from the day's start and fills)."""
    values = [{"account": r.account, "symbol": r.symbol, "qty": r.qty, "cost": r.cost,
               "realized_pnl": r.realized_pnl, "fees": r.fees, "cash_flow": r.cash_flow,
               "start_qty": r.start_qty, "start_cost": r.start_cost, "trades": r.trades,
               "updated_at": r.updated_at} for r in rows]
    with engine.begin() as connection:
        connection.execute(sa.delete(positions))
        if values:
            connection.execute(sa.insert(positions), values)
