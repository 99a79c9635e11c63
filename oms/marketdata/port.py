"""The market-data port: what a source of quotes and trades calls, and what it hands over.

A feed (a FIX session, a replay) calls a ``MarketDataSink``; whatever keeps the market's
state (a book, bars) implements it. Prices and sizes are Decimals, as everywhere in the OMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Quote:
    """The best bid and offer of a symbol at ``ts``; a side with no price is None."""

    symbol: str
    bid: Decimal | None
    bid_size: Decimal | None
    ask: Decimal | None
    ask_size: Decimal | None
    ts: datetime

    @property
    def mid(self) -> Decimal | None:
        return (self.bid + self.ask) / 2 if self.bid is not None and self.ask is not None else None


class MarketDataSink(Protocol):
    """Called by a feed on its own thread (never the core's): keep it quick."""

    def on_quote(self, symbol: str, bid: Decimal | None, bid_size: Decimal | None,
                 ask: Decimal | None, ask_size: Decimal | None, ts: datetime) -> None: ...

    def on_trade(self, symbol: str, px: Decimal, qty: Decimal, ts: datetime) -> None: ...

    def on_status(self, source: str, text: str) -> None: ...
