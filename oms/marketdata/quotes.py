"""``LastQuotes``: the simplest market-data sink, the latest quote of each symbol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from oms.marketdata.port import Quote


class LastQuotes:
    """The simplest sink: the latest ``Quote`` of each symbol, and the last trade.

    A dict assignment per update; readers on other threads see whole Quotes (they are
    immutable). Statuses (rejects) are kept as the last few lines."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.trades: dict[str, tuple[Decimal, Decimal, datetime]] = {}
        self.statuses: list[tuple[str, str]] = []
        self.updates = 0

    def on_quote(self, symbol: str, bid: Decimal | None, bid_size: Decimal | None,
                 ask: Decimal | None, ask_size: Decimal | None, ts: datetime) -> None:
        self.quotes[symbol] = Quote(symbol, bid, bid_size, ask, ask_size, ts)
        self.updates += 1

    def on_trade(self, symbol: str, px: Decimal, qty: Decimal, ts: datetime) -> None:
        self.trades[symbol] = (px, qty, ts)
        self.updates += 1

    def on_trades(self, symbol: str, trades: Sequence[tuple[Decimal, Decimal]],
                  ts: datetime) -> None:
        for px, qty in trades:
            self.on_trade(symbol, px, qty, ts)

    def on_status(self, source: str, text: str) -> None:
        self.statuses.append((source, text))
        del self.statuses[:-100]

    def get(self, symbol: str) -> Quote | None:
        return self.quotes.get(symbol)
