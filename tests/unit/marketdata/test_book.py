"""The market data book: quotes, staleness, the day's trades and its one-minute bars
(hand-computed), and the previous close."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.marketdata.book import MarketDataBook, read_closes_file
from oms.marketdata.port import Bar, Quote, Tick

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class Kept:
    """A BarSink that keeps what it is given."""

    def __init__(self) -> None:
        self.bars: list[Bar] = []
        self.ticks: list[Tick] = []

    def bar_closed(self, bar: Bar) -> None:
        self.bars.append(bar)

    def tick(self, tick: Tick) -> None:
        self.ticks.append(tick)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_mid_is_the_middle_of_bid_and_ask_and_none_with_one_side() -> None:
    assert Quote("X", D("10.00"), D(1), D("10.03"), D(1), T0).mid == D("10.015")
    assert Quote("X", D("10.00"), D(1), None, None, T0).mid is None


def test_the_latest_quote_wins_and_an_older_one_is_ignored() -> None:
    # Arrange
    book = MarketDataBook()

    # Act
    book.on_quote("AAPL", D("189.50"), D(300), D("189.52"), D(200), at(1))
    book.on_quote("AAPL", D("189.40"), D(100), D("189.45"), D(100), at(0))

    # Assert
    quote = book.quote("AAPL")
    assert quote == Quote("AAPL", D("189.50"), D(300), D("189.52"), D(200), at(1))
    assert book.quote("MSFT") is None


def test_a_quote_older_than_stale_after_is_stale_and_no_quote_is_stale() -> None:
    # Arrange
    book = MarketDataBook(stale_after=5)
    book.on_quote("AAPL", D(1), D(1), D(2), D(1), at(0))

    # Assert
    assert not book.is_stale("AAPL", at(5))
    assert book.is_stale("AAPL", at(5.001))
    assert book.is_stale("MSFT", at(0))


def test_one_minute_bars_ohlcv_and_vwap_by_hand() -> None:
    # Arrange: three trades in 14:30, two in 14:31, one in 14:32
    sink = Kept()
    book = MarketDataBook(sink=sink)

    # Act
    book.on_trade("AAPL", D("10.00"), D(100), at(0))
    book.on_trade("AAPL", D("10.50"), D(200), at(20))
    book.on_trade("AAPL", D("9.80"), D(100), at(59.999))
    book.on_trade("AAPL", D("10.10"), D(300), at(60))
    book.on_trade("AAPL", D("10.30"), D(100), at(119))
    book.on_trade("AAPL", D("10.20"), D(50), at(125))

    # Assert: 14:30: notional 1000 + 2100 + 980 = 4080 over 400 -> 10.20
    first = Bar("AAPL", T0, D("10.00"), D("10.50"), D("9.80"), D("9.80"), D(400), D("10.2"))
    # 14:31: 3030 + 1030 = 4060 over 400 -> 10.15
    second = Bar("AAPL", at(60), D("10.10"), D("10.30"), D("10.10"), D("10.30"), D(400),
                 D("10.15"))
    assert sink.bars == [first, second]  # 14:32 is still open
    bars = book.bars("AAPL")
    assert bars[:2] == [first, second]
    assert bars[2] == Bar("AAPL", at(120), D("10.20"), D("10.20"), D("10.20"), D("10.20"),
                          D(50), D("10.20"))
    # the day: 4080 + 4060 + 510 = 8650 over 850
    assert book.day_volume("AAPL") == D(850)
    assert book.day_vwap("AAPL") == D(8650) / D(850)
    last = book.last_trade("AAPL")
    assert last is not None and (last.px, last.qty, last.ts) == (D("10.20"), D(50), at(125))


def test_a_clean_stop_hands_over_the_open_bars() -> None:
    # Arrange
    sink = Kept()
    book = MarketDataBook(sink=sink)
    book.on_trade("AAPL", D(10), D(1), at(0))
    book.on_trade("MSFT", D(20), D(2), at(1))

    # Act
    flushed = book.flush()

    # Assert
    assert flushed == 2
    assert sorted((b.symbol, b.volume) for b in sink.bars) == [("AAPL", D(1)), ("MSFT", D(2))]


def test_a_late_trade_counts_in_the_day_but_not_in_a_closed_bar() -> None:
    # Arrange
    sink = Kept()
    book = MarketDataBook(sink=sink)
    book.on_trade("AAPL", D(10), D(1), at(0))
    book.on_trade("AAPL", D(11), D(1), at(61))

    # Act: a trade of 14:30, after 14:30 closed
    book.on_trade("AAPL", D(12), D(1), at(30))

    # Assert
    assert sink.bars[0].volume == D(1)
    assert book.day_volume("AAPL") == D(3)
    assert book.late_trades("AAPL") == 1
    last = book.last_trade("AAPL")
    assert last is not None and last.px == D(11)  # the latest by time, not by arrival


def test_a_new_day_starts_again_with_the_previous_close() -> None:
    # Arrange
    sink = Kept()
    book = MarketDataBook(sink=sink)
    book.on_trade("AAPL", D(10), D(1), at(0))
    book.on_trade("AAPL", D("10.40"), D(1), at(90))

    # Act
    book.on_trade("AAPL", D(11), D(5), at(86400))

    # Assert
    assert book.day_volume("AAPL") == D(5)
    assert [b.close for b in sink.bars] == [D(10), D("10.40")]
    assert book.previous_close("AAPL") == D("10.40")
    assert len(book.bars("AAPL")) == 1


def test_the_previous_close_comes_from_the_file_first(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "closes.csv"
    path.write_text("symbol,close\nAAPL,188.25\nMSFT , 401.5\n")
    asked: list[tuple[str, date]] = []

    def stored(symbol: str, day: date) -> D | None:
        asked.append((symbol, day))
        return D("99") if symbol == "IBM" else None

    book = MarketDataBook(previous_closes=read_closes_file(str(path)), stored_closes=stored)

    # Assert
    assert book.previous_close("AAPL", date(2026, 3, 2)) == D("188.25")
    assert book.previous_close("MSFT", date(2026, 3, 2)) == D("401.5")
    assert book.previous_close("IBM", date(2026, 3, 2)) == D("99")
    assert book.previous_close("IBM", date(2026, 3, 2)) == D("99")
    assert asked == [("IBM", date(2026, 3, 2))]  # asked once, then remembered
    assert book.previous_close("NONE", date(2026, 3, 2)) is None


@pytest.mark.parametrize("text", ["AAPL\n", "AAPL,abc\n", "AAPL,-1\n", ",10\n", "A,1,2\n"])
def test_a_bad_closes_file_says_which_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "closes.csv"
    path.write_text("symbol,close\nMSFT,1\n" + text)

    with pytest.raises(ValueError, match=r"closes.csv:3: expected 'symbol,close'"):
        read_closes_file(str(path))


def test_only_the_configured_symbols_are_kept_and_ticks_are_recorded_when_asked() -> None:
    # Arrange
    sink = Kept()
    book = MarketDataBook(sink=sink, symbols=frozenset({"AAPL"}), record_ticks=True)

    # Act
    book.on_quote("MSFT", D(1), D(1), D(2), D(1), at(0))
    book.on_quote("AAPL", D(1), D(1), D(2), D(1), at(0))
    book.on_trade("AAPL", D("1.5"), D(3), at(1))

    # Assert
    assert book.quote("MSFT") is None
    assert [t.kind for t in sink.ticks] == ["quote", "trade"]
    assert book.symbols_seen() == ["AAPL"]


# --- on_trades: a message's prints at once --------------------------------------------------
_prices = st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2)
_sizes = st.integers(min_value=1, max_value=10_000).map(D)
# each group: seconds from T0 (late, same minute, a later minute, the next day) and prints
_groups = st.lists(
    st.tuples(st.sampled_from([0, 10, 59.5, 60, 61, 30, 150, 86_400, 86_430]),
              st.lists(st.tuples(_prices, _sizes), min_size=1, max_size=6)),
    min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(_groups)
def test_prints_handed_at_once_leave_the_book_as_one_at_a_time(
        groups: list[tuple[float, list[tuple[D, D]]]]) -> None:
    sink_one, sink_many = Kept(), Kept()
    one = MarketDataBook(sink=sink_one, record_ticks=True)
    many = MarketDataBook(sink=sink_many, record_ticks=True)
    for seconds, prints in groups:
        for px, qty in prints:
            one.on_trade("AAPL", px, qty, at(seconds))
        many.on_trades("AAPL", prints, at(seconds))
    assert many.bars("AAPL") == one.bars("AAPL")
    assert many.last_trade("AAPL") == one.last_trade("AAPL")
    assert many.day_volume("AAPL") == one.day_volume("AAPL")
    assert many.day_vwap("AAPL") == one.day_vwap("AAPL")
    assert many.late_trades("AAPL") == one.late_trades("AAPL")
    assert many.previous_close("AAPL") == one.previous_close("AAPL")
    assert many.stats.trades == one.stats.trades == sum(len(p) for _, p in groups)
    assert many.stats.bars_closed == one.stats.bars_closed
    assert sink_many.bars == sink_one.bars
    assert sink_many.ticks == sink_one.ticks


def test_a_batch_of_prints_makes_the_bar_by_hand() -> None:
    book = MarketDataBook()
    book.on_trade("AAPL", D("10.00"), D(100), at(0))
    book.on_trades("AAPL", [(D("10.20"), D(100)), (D("9.90"), D(200)), (D("10.05"), D(100))],
                   at(5))
    (bar,) = book.bars("AAPL")
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        D("10.00"), D("10.20"), D("9.90"), D("10.05"), D(500))
    # (1000 + 1020 + 1980 + 1005) / 500
    assert bar.vwap == D("10.01")
    assert book.last_trade("AAPL") == (D("10.05"), D(100), at(5))
    assert book.stats.trades == 4
