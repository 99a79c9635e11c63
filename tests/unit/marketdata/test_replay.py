"""Replay files: the CSV format, bad files, parquet when pyarrow is there, and the pace (as
fast as possible, and N times the recorded pace on a fake clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from oms.marketdata.book import MarketDataBook
from oms.marketdata.port import Tick
from oms.marketdata.replay import COLUMNS, ReplayFileError, load_ticks, replay, tick_row

FILE = """ts,symbol,kind,bid,bid_size,ask,ask_size,px,qty
2026-03-02T14:30:00Z,AAPL,quote,189.50,300,189.52,200,,
2026-03-02T14:30:01.5Z,AAPL,trade,,,,,189.51,100
2026-03-02T14:30:04,AAPL,quote,189.51,100,,,,
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "day.csv"
    path.write_text(text)
    return path


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_file_replayed_as_fast_as_possible_fills_the_book(tmp_path: Path) -> None:
    # Arrange
    book = MarketDataBook()
    clock = FakeClock()

    # Act
    counts = replay(load_ticks(write(tmp_path, FILE)), book, speed=0, clock=clock,
                    sleep=clock.sleep)

    # Assert
    assert (counts.quotes, counts.trades) == (2, 1)
    assert clock.slept == []
    quote = book.quote("AAPL")
    assert quote is not None
    assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (D("189.51"), D(100),
                                                                      None, None)
    assert quote.ts == datetime(2026, 3, 2, 14, 30, 4, tzinfo=UTC)  # no offset: UTC
    assert book.day_volume("AAPL") == D(100)


@pytest.mark.parametrize("speed, waits", [(1, [1.5, 2.5]), (10, [0.15, 0.25])])
def test_a_replay_keeps_the_recorded_pace_times_the_speed(tmp_path: Path, speed: float,
                                                          waits: list[float]) -> None:
    # Arrange
    clock = FakeClock()

    # Act
    replay(load_ticks(write(tmp_path, FILE)), MarketDataBook(), speed=speed, clock=clock,
           sleep=clock.sleep)

    # Assert
    assert clock.slept == pytest.approx(waits)


@pytest.mark.parametrize("line, why", [
    ("nope,AAPL,quote,1,1,2,1,,", "is not an ISO 8601 time"),
    ("2026-03-02T14:30:00Z,,quote,1,1,2,1,,", "symbol is empty"),
    ("2026-03-02T14:30:00Z,AAPL,bbo,1,1,2,1,,", "neither quote nor trade"),
    ("2026-03-02T14:30:00Z,AAPL,quote,x,1,2,1,,", "bid 'x' is not a number"),
    ("2026-03-02T14:30:00Z,AAPL,quote,,,,,,", "needs a bid or an ask"),
    ("2026-03-02T14:30:00Z,AAPL,trade,,,,,10,0", "positive qty"),
    ("2026-03-02T14:30:00Z,AAPL,trade,,,,,NaN,1", "finite"),
])
def test_a_bad_line_names_the_file_and_line_and_nothing_is_fed(tmp_path: Path, line: str,
                                                               why: str) -> None:
    path = write(tmp_path, FILE + line + "\n")

    with pytest.raises(ReplayFileError, match=rf"day.csv:5: .*{why}"):
        load_ticks(path)


def test_a_file_without_the_header_or_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReplayFileError, match="missing bid_size"):
        load_ticks(write(tmp_path, "ts,symbol,kind,bid,ask,px,qty\n"))
    with pytest.raises(ReplayFileError, match="no such file"):
        load_ticks(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="speed"):
        replay([], MarketDataBook(), speed=-1)


def test_a_tick_row_reads_back_as_the_same_tick(tmp_path: Path) -> None:
    # Arrange
    ticks = [Tick(datetime(2026, 3, 2, 14, 30, 0, 1, tzinfo=UTC), "AAPL", "quote",
                  D("1.10"), D(3), None, None),
             Tick(datetime(2026, 3, 2, 14, 30, 1, tzinfo=UTC), "AAPL", "trade",
                  px=D("1.1E+2"), qty=D(5))]

    # Act
    text = ",".join(COLUMNS) + "\n" + "".join(tick_row(t) + "\n" for t in ticks)

    # Assert
    assert load_ticks(write(tmp_path, text)) == ticks


def test_a_parquet_file_replays_like_its_csv(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    # Arrange
    path = tmp_path / "day.parquet"
    pq.write_table(pa.table({
        "ts": ["2026-03-02T14:30:00Z", "2026-03-02T14:30:01Z"],
        "symbol": ["AAPL", "AAPL"], "kind": ["quote", "trade"],
        "bid": ["1.5", None], "bid_size": ["10", None], "ask": ["1.6", None],
        "ask_size": ["5", None], "px": [None, "1.55"], "qty": [None, "7"]}), path)

    # Act
    book = MarketDataBook()
    counts = replay(load_ticks(path), book)

    # Assert
    assert (counts.quotes, counts.trades) == (1, 1)
    assert book.day_vwap("AAPL") == D("1.55")
