"""A seedable, synthetic market: quotes and trades for a handful of symbols.

Pure Python, no FIX and no clock: ``MarketGenerator.step()`` returns the next event, and the
same seed and symbols give the same events, so tests can pin the stream down and a benchmark
can replay it (``oms sim market`` puts it on a FIX session, oms/sim/market.py).

The model, simple on purpose but with the shapes a trader expects of a day:

* each symbol's mid follows a geometric random walk with a volatility of its own (drawn from
  the seed unless given), ``mid *= exp(sigma * sqrt(dt) * z - sigma**2 * dt / 2)``;
* the simulated session runs from 0 to 1 (``session_steps`` events make a session, then it
  starts again); the spread is ``base_spread_bps`` wide at mid-day and widens by
  ``open_close_widening`` times near the open and the close (an exponential decay over the
  first and last ~5 % of the session), as books are thin there;
* the activity is U-shaped: trade sizes and the chance of a trade after a quote follow
  ``0.5 + 2 * (2f - 1) ** 2`` (2.5 at the open and the close, 0.5 at mid-day);
* a trade prints at a tick between the bid and the ask (both included), never outside.

Prices are rounded to ``tick`` (bid down, ask up, at least a tick apart); sizes are whole lots.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG", "AMZN")


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    """A new best bid and offer of ``symbol`` at session time ``f`` (0 open, 1 close)."""

    symbol: str
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    f: float


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A trade print of ``symbol`` at session time ``f``."""

    symbol: str
    px: Decimal
    qty: Decimal
    f: float


Event = QuoteEvent | TradeEvent


def activity(f: float) -> float:
    """The U-shaped intraday activity at session time ``f``: 2.5 at the ends, 0.5 mid-day."""
    return 0.5 + 2.0 * (2.0 * f - 1.0) ** 2


def spread_factor(f: float, widening: float) -> float:
    """How many times the mid-day spread the spread is at session time ``f``."""
    return 1.0 + widening * (math.exp(-f / 0.05) + math.exp(-(1.0 - f) / 0.05))


class MarketGenerator:
    """The synthetic market; ``step()`` (or iterating) gives one event after another."""

    def __init__(self, symbols: Sequence[str] = DEFAULT_SYMBOLS, seed: int = 0, *,
                 start_px: dict[str, Decimal] | None = None,
                 volatility: dict[str, float] | None = None,
                 session_steps: int = 23_400, base_spread_bps: float = 4.0,
                 open_close_widening: float = 4.0, trade_probability: float = 0.3,
                 lot: int = 100, tick: Decimal = Decimal("0.01")) -> None:
        if not symbols:
            raise ValueError("a market needs at least one symbol")
        self.symbols = list(dict.fromkeys(symbols))
        self._rng = random.Random(seed)
        self.session_steps = session_steps
        self.base_spread = base_spread_bps / 10_000
        self.widening = open_close_widening
        self.trade_probability = trade_probability
        self.lot = lot
        self.tick = tick
        # per step of one symbol: a session is ``session_steps`` events over all symbols
        self._dt = len(self.symbols) / session_steps
        self.mids: dict[str, float] = {}
        self.sigmas: dict[str, float] = {}
        for symbol in self.symbols:
            given = (start_px or {}).get(symbol)
            self.mids[symbol] = float(given) if given is not None else \
                round(self._rng.uniform(20, 400), 2)
            sigma = (volatility or {}).get(symbol)
            # a day's volatility between 1 % and 4 %
            self.sigmas[symbol] = sigma if sigma is not None else self._rng.uniform(0.01, 0.04)
        self.steps = 0
        self._next = 0  # the symbol whose turn it is
        self._pending: TradeEvent | None = None
        self.last: dict[str, QuoteEvent] = {}
        for symbol in self.symbols:
            self.last[symbol] = self._quote(symbol, 0.0)

    @property
    def session_time(self) -> float:
        """Where in the simulated session the next event falls, 0 (open) to 1 (close)."""
        return (self.steps % self.session_steps) / self.session_steps

    def __iter__(self) -> Iterator[Event]:
        while True:
            yield self.step()

    def step(self) -> Event:
        """The next event: a quote of the next symbol in turn, or the trade that followed the
        last quote."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            return pending
        rng = self._rng
        f = self.session_time
        self.steps += 1
        symbol = self.symbols[self._next]
        self._next = (self._next + 1) % len(self.symbols)
        sigma = self.sigmas[symbol]
        dt = self._dt
        self.mids[symbol] *= math.exp(sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0)
                                      - sigma * sigma * dt / 2)
        quote = self.last[symbol] = self._quote(symbol, f)
        u = activity(f)
        if rng.random() < min(1.0, self.trade_probability * u):
            ticks = int((quote.ask - quote.bid) / self.tick)
            px = quote.bid + self.tick * rng.randint(0, ticks)
            qty = Decimal(self.lot * max(1, round(u * rng.expovariate(1.0) * 2)))
            self._pending = TradeEvent(symbol, px, qty, f)
        return quote

    def _quote(self, symbol: str, f: float) -> QuoteEvent:
        rng = self._rng
        mid = self.mids[symbol]
        half = mid * self.base_spread * spread_factor(f, self.widening) / 2
        tick = self.tick
        bid = Decimal(repr(mid - half)).quantize(tick, rounding=ROUND_FLOOR)
        ask = Decimal(repr(mid + half)).quantize(tick, rounding=ROUND_CEILING)
        if ask - bid < tick:
            ask = bid + tick
        u = activity(f)
        bid_size = Decimal(self.lot * max(1, round(u * rng.uniform(1, 10))))
        ask_size = Decimal(self.lot * max(1, round(u * rng.uniform(1, 10))))
        return QuoteEvent(symbol, bid, bid_size, ask, ask_size, f)

    def take(self, n: int) -> list[Event]:
        """The next ``n`` events as a list (for tests and benchmarks)."""
        return [self.step() for _ in range(n)]
