"""The market data port: what a source of quotes and trades feeds, and what it feeds into.

Adapters (the FIX market-data session, the replay of a recorded file, the simulator) call a
``MarketDataSink`` from their own threads; ``MarketDataBook`` (``oms.marketdata.book``) is
the sink the server holds and the core reads. Prices and sizes are ``Decimal`` from the
adapter on: a float never enters the book. Timestamps are aware UTC datetimes, as stamped
by the source (the book's minute bars follow the source's clock, not ours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

TWO = Decimal(2)


class Quote(NamedTuple):
    """The latest top of book of a symbol (immutable: the book replaces it whole, so a
    reader on another thread never sees a bid of one update with the ask of another). A
    named tuple, not a frozen dataclass: a feed makes one per update, and a tuple is made
    several times faster (``scripts/bench_marketdata.py``)."""

    symbol: str
    bid: Decimal | None
    bid_size: Decimal | None
    ask: Decimal | None
    ask_size: Decimal | None
    ts: datetime  # UTC, when the source stamped it

    @property
    def mid(self) -> Decimal | None:
        """(bid + ask) / 2 when both sides are there, else None."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / TWO


class MarketDataSink(Protocol):
    """What adapters (FIX session, replay, simulator) feed."""

    def on_quote(self, symbol: str, bid: Decimal | None, bid_size: Decimal | None,
                 ask: Decimal | None, ask_size: Decimal | None, ts: datetime) -> None: ...

    def on_trade(self, symbol: str, px: Decimal, qty: Decimal, ts: datetime) -> None: ...

    def on_trades(self, symbol: str, trades: Sequence[tuple[Decimal, Decimal]],
                  ts: datetime) -> None:
        """Several trades of ``symbol`` at ``ts``, (px, qty) each in order: one call for a
        message's prints (the same as ``on_trade`` for each)."""

    def on_status(self, source: str, text: str) -> None:
        """Something the source said about itself (e.g. a MarketDataRequestReject)."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One minute of a symbol's trades: ``minute`` is its start (UTC, on the minute); the
    VWAP is sum(px * qty) / volume of the trades in it."""

    symbol: str
    minute: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    vwap: Decimal


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote or trade as a source gave it: a row of a replay file (``kind`` "quote" or
    "trade"; a quote's fields or a trade's ``px`` and ``qty``, the others None), and what a
    tick file records."""

    ts: datetime
    symbol: str
    kind: str
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    px: Decimal | None = None
    qty: Decimal | None = None


class BarSink(Protocol):
    """Where the book hands what must be kept: each bar as its minute closes (and the open
    ones at a clean stop), and each tick when tick files are kept. Called on the adapter's
    thread: an implementation queues and returns (``oms.marketdata.writer``)."""

    def bar_closed(self, bar: Bar) -> None: ...

    def tick(self, tick: Tick) -> None: ...
