"""The market data writer thread: bars to the store in batches, ticks to per-day files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

from oms.marketdata.book import MarketDataBook
from oms.marketdata.port import Bar
from oms.marketdata.replay import load_ticks
from oms.marketdata.writer import MarketDataWriter

T0 = datetime(2026, 3, 2, 23, 59, 30, tzinfo=UTC)


class Stored:
    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[list[Bar]] = []
        self.fail_first = fail_first

    def write_bars(self, bars: list[Bar]) -> None:
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("database down")
        self.batches.append(bars)


def test_bars_and_ticks_are_written_by_the_thread_and_ticks_replay(tmp_path: Path) -> None:
    # Arrange
    store = Stored()
    writer = MarketDataWriter(store, tmp_path / "ticks").start()
    book = MarketDataBook(sink=writer, record_ticks=True)

    # Act: a day ends at midnight: two tick files
    book.on_quote("AAPL", D("1.5"), D(1), D("1.6"), D(2), T0)
    book.on_trade("AAPL", D("1.55"), D(10), T0)
    book.on_trade("AAPL", D("1.57"), D(10), datetime(2026, 3, 3, 0, 0, 1, tzinfo=UTC))
    book.flush()
    writer.stop()

    # Assert
    bars = [bar for batch in store.batches for bar in batch]
    assert [(b.minute.day, b.close) for b in bars] == [(2, D("1.55")), (3, D("1.57"))]
    files = sorted(p.name for p in (tmp_path / "ticks").iterdir())
    assert files == ["ticks-2026-03-02.csv", "ticks-2026-03-03.csv"]
    first = load_ticks(tmp_path / "ticks" / files[0])
    assert [t.kind for t in first] == ["quote", "trade"]
    assert writer.ticks_written == 3


def test_a_failed_write_is_counted_and_the_writer_goes_on() -> None:
    # Arrange
    store = Stored(fail_first=True)
    writer = MarketDataWriter(store).start()
    bar = Bar("X", T0, D(1), D(1), D(1), D(1), D(1), D(1))

    # Act
    writer.bar_closed(bar)
    writer.stop()
    writer = MarketDataWriter(store).start()
    writer.bar_closed(bar)
    writer.stop()

    # Assert
    assert store.batches == [[bar]]
    assert writer.bars_written == 1
