"""The market data book: the latest quote, the last trade and the day's minute bars of each
symbol, fed by adapters, read by the core.

Who writes, who reads. Adapters call ``on_quote`` / ``on_trade`` from their own threads; the
core thread reads ``quote`` and ``is_stale`` on every new order, and the admin interface
reads the rest. A reader takes no lock and never waits: each symbol's state is an immutable
snapshot (``Quote``, ``_Day``) in a dict, and a writer builds the next snapshot and assigns
it, which is atomic under the GIL. A reader gets the old snapshot or the new one, never half
of one. Writers serialise among themselves with ``_write_lock`` (two adapters may feed the
same symbol); readers never touch it.

Bars. A trade belongs to the minute of its own timestamp (the source's clock). The first
trade of a later minute closes the open bar, which goes to the ``BarSink`` (a writer thread
that stores it: never the core's journal). A trade older than the open bar's minute still
counts in the day's volume and VWAP, but not in a bar: the bar it belongs to is closed and
may be stored already (``late_trades`` counts them). The day is the UTC date of the
trades; the first trade of a new date starts a new day, whose previous close is the last
close of the day before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from oms.marketdata.port import Bar, BarSink, Quote, Tick

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE_MINUTE = timedelta(minutes=1)
_NEVER = datetime.min.replace(tzinfo=UTC)

# symbol, day -> the close of the last bar stored before that day (oms.store.bars)
StoredCloses = Callable[[str, date], Decimal | None]


class LastTrade(NamedTuple):
    px: Decimal
    qty: Decimal
    ts: datetime


class _OpenBar(NamedTuple):
    """The bar of the current minute, with the notional its VWAP needs. This and the other
    per-update records are named tuples: made on every trade, several times faster than
    frozen dataclasses."""

    minute: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    notional: Decimal

    def bar(self, symbol: str) -> Bar:
        vwap = self.notional / self.volume if self.volume else self.close
        return Bar(symbol, self.minute, self.open, self.high, self.low, self.close,
                   self.volume, vwap)

    def add(self, high: Decimal, low: Decimal, close: Decimal, volume: Decimal,
            notional: Decimal) -> _OpenBar:
        """This bar with trades added: their highest and lowest prices, the last one's,
        their volume and notional (sum of px * qty)."""
        return _OpenBar(self.minute, self.open, high if high > self.high else self.high,
                        low if low < self.low else self.low, close, self.volume + volume,
                        self.notional + notional)


class _Day(NamedTuple):
    """A symbol's trading day so far (replaced whole by each trade)."""

    day: date
    last: LastTrade
    volume: Decimal
    notional: Decimal
    closed: tuple[Bar, ...]
    open_bar: _OpenBar
    late_trades: int = 0
    # the last close of the day before, when this book saw that day
    previous_close: Decimal | None = None


def minute_of(ts: datetime) -> datetime:
    """The start of the minute ``ts`` falls in."""
    return ts.replace(second=0, microsecond=0)


def read_closes_file(path: str) -> dict[str, Decimal]:
    """A ``symbol,close`` CSV file (a header line ``symbol,close`` is allowed) as a dict.
    Raises ``ValueError`` naming the file and line of anything else."""
    closes: dict[str, Decimal] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = [part.strip() for part in text.split(",")]
            if number == 1 and [p.lower() for p in parts] == ["symbol", "close"]:
                continue
            try:
                if len(parts) != 2 or not parts[0]:
                    raise ValueError
                close = Decimal(parts[1])
                if not close.is_finite() or close <= 0:
                    raise ValueError
            except (ValueError, ArithmeticError):
                raise ValueError(f"{path}:{number}: expected 'symbol,close' with a positive "
                                 f"price, got {text!r}") from None
            closes[parts[0]] = close
    return closes


@dataclass
class _NoSink:
    """Bars and ticks kept nowhere (a book for tests and tools that store nothing)."""

    def bar_closed(self, bar: Bar) -> None:
        pass

    def tick(self, tick: Tick) -> None:
        pass


@dataclass
class BookStats:
    quotes: int = 0
    trades: int = 0
    bars_closed: int = 0
    statuses: list[tuple[str, str]] = field(default_factory=list)


class MarketDataBook:
    """A ``MarketDataSink`` the core reads without blocking (see the module's docstring)."""

    def __init__(self, *, stale_after: float = 5.0, sink: BarSink | None = None,
                 previous_closes: Mapping[str, Decimal] | None = None,
                 stored_closes: StoredCloses | None = None, record_ticks: bool = False,
                 symbols: frozenset[str] = frozenset()) -> None:
        self.stale_after = timedelta(seconds=stale_after)
        self.sink: BarSink = sink or _NoSink()
        self.record_ticks = record_ticks
        # empty: every symbol a source sends is kept
        self.symbols = symbols
        self._file_closes = dict(previous_closes or {})
        self._stored_closes = stored_closes
        self._closes_read: dict[tuple[str, date], Decimal | None] = {}
        self._quotes: dict[str, Quote] = {}
        self._days: dict[str, _Day] = {}
        self._write_lock = threading.Lock()
        self._minute_span = (_NEVER, _NEVER)  # (start, end) of the last minute_of
        self.stats = BookStats()

    # --- the sink (adapter threads) ------------------------------------------------------
    def on_quote(self, symbol: str, bid: Decimal | None, bid_size: Decimal | None,
                 ask: Decimal | None, ask_size: Decimal | None, ts: datetime) -> None:
        if self.symbols and symbol not in self.symbols:
            return
        quote = Quote(symbol, bid, bid_size, ask, ask_size, ts)
        with self._write_lock:
            current = self._quotes.get(symbol)
            if current is not None and current.ts > ts:
                return  # an older quote never replaces a newer one
            self._quotes[symbol] = quote
            self.stats.quotes += 1
        if self.record_ticks:
            self.sink.tick(Tick(ts, symbol, "quote", bid, bid_size, ask, ask_size))

    def on_trade(self, symbol: str, px: Decimal, qty: Decimal, ts: datetime) -> None:
        self.on_trades(symbol, ((px, qty),), ts)

    def on_trades(self, symbol: str, trades: Sequence[tuple[Decimal, Decimal]],
                  ts: datetime) -> None:
        """Trades of one symbol at one time ((px, qty) each, in order), as if each were an
        ``on_trade``: a feed hands a message's prints at once, so the day and the bar are
        replaced once per message, not once per print (the sums are exact either way)."""
        if (self.symbols and symbol not in self.symbols) or not trades:
            return
        # the prints folded: they share ts, so one minute and one day
        px, qty = trades[0]
        first_px = high = low = px
        volume = qty
        notional = px * qty
        for px, qty in trades[1:]:
            if px > high:
                high = px
            elif px < low:
                low = px
            volume += qty
            notional += px * qty
        minute = self._minute(ts)
        closed: Bar | None = None
        with self._write_lock:
            day = self._days.get(symbol)
            trade = LastTrade(px, qty, ts)
            if day is None or ts.date() > day.day:
                previous = day.open_bar.close if day is not None else None
                if day is not None:
                    closed = day.open_bar.bar(symbol)
                self._days[symbol] = _Day(ts.date(), trade, volume, notional, (),
                                          _OpenBar(minute, first_px, high, low, px, volume,
                                                   notional),
                                          previous_close=previous)
            else:
                last = trade if ts >= day.last.ts else day.last
                open_bar = day.open_bar
                if minute == open_bar.minute:  # the common case first
                    self._days[symbol] = day._replace(
                        last=last, volume=day.volume + volume,
                        notional=day.notional + notional,
                        open_bar=open_bar.add(high, low, px, volume, notional))
                elif minute > open_bar.minute:
                    closed = open_bar.bar(symbol)
                    self._days[symbol] = day._replace(
                        last=last, volume=day.volume + volume,
                        notional=day.notional + notional, closed=(*day.closed, closed),
                        open_bar=_OpenBar(minute, first_px, high, low, px, volume, notional))
                else:  # late trades: their minute is closed (see the module's docstring)
                    self._days[symbol] = day._replace(
                        last=last, volume=day.volume + volume,
                        notional=day.notional + notional,
                        late_trades=day.late_trades + len(trades))
            self.stats.trades += len(trades)
            if closed is not None:
                self.stats.bars_closed += 1
        if closed is not None:
            self.sink.bar_closed(closed)
        if self.record_ticks:
            for px, qty in trades:
                self.sink.tick(Tick(ts, symbol, "trade", px=px, qty=qty))

    def _minute(self, ts: datetime) -> datetime:
        """``minute_of(ts)``, remembered: a feed's prints fall in the same minute for a
        whole minute, and two comparisons are several times cheaper than a replace."""
        start, end = self._minute_span
        if start <= ts < end:
            return start
        start = minute_of(ts)
        self._minute_span = (start, start + ONE_MINUTE)
        return start

    def on_status(self, source: str, text: str) -> None:
        log.warning("market data %s: %s", source, text)
        self.stats.statuses.append((source, text))
        del self.stats.statuses[:-100]

    def flush(self) -> int:
        """Hand every open bar to the sink (a clean stop: the minute in progress is kept
        too; if trades of that minute come later, the stored bar is written again)."""
        days = self._days.copy().items()  # a copy is taken atomically
        for symbol, day in days:
            self.sink.bar_closed(day.open_bar.bar(symbol))
        return len(days)

    # --- what the core and the admin interface read (any thread, no lock) -----------------
    def quote(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def is_stale(self, symbol: str, now: datetime) -> bool:
        """No quote, or one older than ``stale_after``."""
        quote = self._quotes.get(symbol)
        return quote is None or now - quote.ts > self.stale_after

    def last_trade(self, symbol: str) -> LastTrade | None:
        day = self._days.get(symbol)
        return day.last if day is not None else None

    def day_volume(self, symbol: str) -> Decimal:
        day = self._days.get(symbol)
        return day.volume if day is not None else ZERO

    def day_vwap(self, symbol: str) -> Decimal | None:
        day = self._days.get(symbol)
        if day is None or not day.volume:
            return None
        return day.notional / day.volume

    def bars(self, symbol: str) -> list[Bar]:
        """The day's one-minute bars, oldest first; the last is the minute in progress."""
        day = self._days.get(symbol)
        if day is None:
            return []
        return [*day.closed, day.open_bar.bar(symbol)]

    def late_trades(self, symbol: str) -> int:
        day = self._days.get(symbol)
        return day.late_trades if day is not None else 0

    def previous_close(self, symbol: str, today: date | None = None) -> Decimal | None:
        """The file's close, else the last bar stored before today, else the last close of
        the previous day this book saw. Not for the core thread: the first read of a
        symbol may ask the database (then it is remembered)."""
        close = self._file_closes.get(symbol)
        if close is not None:
            return close
        day = self._days.get(symbol)
        if today is None:
            today = day.day if day is not None else None
        if self._stored_closes is not None and today is not None:
            key = (symbol, today)
            if key not in self._closes_read:
                self._closes_read[key] = self._stored_closes(symbol, today)
            if self._closes_read[key] is not None:
                return self._closes_read[key]
        return day.previous_close if day is not None else None

    def symbols_seen(self) -> list[str]:
        return sorted(self._quotes.copy().keys() | self._days.copy().keys())


