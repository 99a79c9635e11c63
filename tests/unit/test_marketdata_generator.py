"""The synthetic market of ``oms sim market``: repeatable, and shaped like a trading day."""

from __future__ import annotations

from decimal import Decimal
from statistics import mean

from oms.marketdata.generator import (
    MarketGenerator,
    QuoteEvent,
    TradeEvent,
    activity,
    spread_factor,
)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    first = MarketGenerator(["AAPL", "IBM"], seed=42).take(2_000)
    assert first == MarketGenerator(["AAPL", "IBM"], seed=42).take(2_000)
    assert first != MarketGenerator(["AAPL", "IBM"], seed=43).take(2_000)


def test_prices_are_decimals_on_the_tick_and_the_book_never_crosses() -> None:
    for event in MarketGenerator(seed=1).take(5_000):
        if isinstance(event, QuoteEvent):
            assert isinstance(event.bid, Decimal)
            assert event.bid == event.bid.quantize(Decimal("0.01"))
            assert event.ask > event.bid
            assert event.bid_size > 0 and event.ask_size > 0


def test_trades_print_between_the_quotes() -> None:
    generator = MarketGenerator(["AAPL"], seed=3)
    last: QuoteEvent | None = None
    trades = 0
    for event in generator.take(10_000):
        if isinstance(event, TradeEvent):
            assert last is not None and last.symbol == event.symbol
            assert last.bid <= event.px <= last.ask
            assert event.qty > 0 and event.qty % 100 == 0
            trades += 1
        else:
            last = event
    assert trades > 500


def _by_phase(events: list, attribute) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    opening = [attribute(e) for e in events if e.f < 0.03]
    middle = [attribute(e) for e in events if 0.45 < e.f < 0.55]
    closing = [attribute(e) for e in events if e.f > 0.97]
    return mean(opening), mean(middle), mean(closing)


def test_spread_widens_near_the_open_and_the_close() -> None:
    assert spread_factor(0.0, 4) > 4 and spread_factor(1.0, 4) > 4
    assert spread_factor(0.5, 4) < 1.01
    generator = MarketGenerator(["AAPL"], seed=5, session_steps=20_000,
                                start_px={"AAPL": Decimal(100)}, volatility={"AAPL": 0.01})
    quotes = [e for e in generator.take(40_000) if isinstance(e, QuoteEvent)][:19_999]
    opening, middle, closing = _by_phase(quotes, lambda q: float((q.ask - q.bid) / q.bid))
    assert opening > 2 * middle and closing > 2 * middle


def test_volume_is_u_shaped() -> None:
    assert activity(0.0) == activity(1.0) == 2.5 and activity(0.5) == 0.5
    generator = MarketGenerator(["AAPL", "IBM"], seed=9, session_steps=40_000)
    events = generator.take(60_000)
    quotes = [e for e in events if isinstance(e, QuoteEvent)][:39_999]
    trades = [e for e in events if isinstance(e, TradeEvent) and e.f <= quotes[-1].f]

    def volume(lo: float, hi: float) -> float:
        return sum(float(t.qty) for t in trades if lo <= t.f < hi)

    opening, middle, closing = volume(0, 0.1), volume(0.45, 0.55), volume(0.9, 1.0)
    assert opening > 2 * middle and closing > 2 * middle
