"""``market_bars``: the market data book's one-minute bars (#20).

Written by the market data writer thread (``oms.marketdata.writer``) on a connection of its
own, never in the core's journal; a bar already stored (the open bar written at a clean
stop, or a day loaded again) is replaced. Read back for the previous close and by tools.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from oms.marketdata.port import Bar
from oms.store.schema import market_bars

_VALUES = ("open", "high", "low", "close", "volume", "vwap")


class BarTable:
    """A ``BarStore`` on ``market_bars`` (and the reads the book and tools need)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(market_bars)
        self._upsert = statement.on_conflict_do_update(
            index_elements=["symbol", "minute"],
            set_={name: statement.excluded[name] for name in _VALUES})

    def write_bars(self, bars: list[Bar]) -> None:
        if not bars:
            return
        rows = [{"symbol": b.symbol, "minute": b.minute, "open": b.open, "high": b.high,
                 "low": b.low, "close": b.close, "volume": b.volume, "vwap": b.vwap}
                for b in bars]
        with self.engine.begin() as connection:
            connection.execute(self._upsert, rows)

    def bars(self, symbol: str | None = None, day: date | None = None) -> list[Bar]:
        """The stored bars, by symbol and minute; of one symbol and/or one UTC day."""
        c = market_bars.c
        query = sa.select(market_bars).order_by(c.symbol, c.minute)
        if symbol is not None:
            query = query.where(c.symbol == symbol)
        if day is not None:
            start = datetime.combine(day, time(), UTC)
            query = query.where(c.minute >= start,
                                c.minute < datetime.combine(date.fromordinal(
                                    day.toordinal() + 1), time(), UTC))
        with self.engine.connect() as connection:
            return [Bar(r.symbol, r.minute, r.open, r.high, r.low, r.close, r.volume, r.vwap)
                    for r in connection.execute(query)]

    def close_before(self, symbol: str, day: date) -> Decimal | None:
        """The close of the symbol's last bar stored before ``day`` (UTC): its previous
        close when no closes file names it."""
        c = market_bars.c
        query = (sa.select(c.close).where(c.symbol == symbol,
                                          c.minute < datetime.combine(day, time(), UTC))
                 .order_by(c.minute.desc()).limit(1))
        with self.engine.connect() as connection:
            close: Decimal | None = connection.execute(query).scalar()
        return close
