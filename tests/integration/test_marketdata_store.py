"""#20 in the database: ``market_bars`` written and read back, the previous close from
stored bars, and the arrival quote of an order through both of the journal's paths and a
restart (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import sqlalchemy as sa

from oms.app.base import order_snapshot
from oms.app.records import ArrivalQuote, Batch
from oms.domain.enums import OrdType, Side
from oms.domain.order import Order, Trigger
from oms.marketdata.book import MarketDataBook
from oms.marketdata.port import Bar
from oms.marketdata.writer import MarketDataWriter
from oms.store import JournalWriter, get_order, list_orders, load_open_orders
from oms.store.bars import BarTable

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)


def bar(minute: datetime, close: str, symbol: str = "AAPL") -> Bar:
    return Bar(symbol, minute, D("10.5"), D("11.25"), D("10.125"), D(close), D(300),
               D("10.75"))


def test_bars_are_upserted_by_symbol_and_minute_and_read_back_exactly(
        engine: sa.Engine) -> None:
    # Arrange
    table = BarTable(engine)

    # Act: the open bar at a stop, then the same minute closed with more trades
    table.write_bars([bar(T0, "10.5"), bar(T0, "10.25", "MSFT")])
    table.write_bars([bar(T0, "11.000001")])

    # Assert
    assert table.bars("AAPL") == [bar(T0, "11.000001")]
    assert [b.symbol for b in table.bars(day=date(2026, 3, 2))] == ["AAPL", "MSFT"]
    assert table.bars(day=date(2026, 3, 3)) == []
    assert table.bars("AAPL")[0].minute.tzinfo is not None


def test_the_previous_close_is_the_last_bar_stored_before_the_day(engine: sa.Engine) -> None:
    # Arrange: a day of bars written by the book through the writer thread
    table = BarTable(engine)
    writer = MarketDataWriter(table).start()
    book = MarketDataBook(sink=writer)
    book.on_trade("AAPL", D("10.00"), D(1), T0)
    book.on_trade("AAPL", D("10.40"), D(1), T0.replace(minute=31))
    book.flush()
    writer.stop()

    # Act: the next day's book, which never saw the day before
    tomorrow = MarketDataBook(stored_closes=table.close_before)
    tomorrow.on_trade("AAPL", D(11), D(1), DAY2)

    # Assert
    assert writer.bars_written == 2
    assert tomorrow.previous_close("AAPL") == D("10.40")
    assert tomorrow.previous_close("MSFT", date(2026, 3, 3)) is None
    assert table.close_before("AAPL", date(2026, 3, 2)) is None


def order(order_id: str) -> Order:
    return Order(order_id=order_id, session="S", cl_ord_id=f"C-{order_id}", symbol="AAPL",
                 side=Side.BUY, ord_type=OrdType.MARKET, order_qty=D(100), created_at=T0,
                 arrival_bid=D("189.50"), arrival_ask=D("189.52"), arrival_mid=D("189.51"),
                 arrival_stale=False)


def arrival(order_id: str) -> ArrivalQuote:
    return ArrivalQuote(order_id, D("189.50"), D("189.52"), D("189.51"), False)


def test_the_arrival_quote_is_stored_on_both_paths_and_survives_a_restart(
        engine: sa.Engine) -> None:
    # Arrange
    writer = JournalWriter(engine)
    fast, slow, broken = order("O1"), order("O2"), order("O3")
    broken_row = order_snapshot(broken, T0)
    broken_row.price = 1.5  # type: ignore[assignment]  # refused: the batch goes row by row
    try:
        # Act: the quote goes with the order's first row; later rows of the order carry none
        assert writer.write_now(Batch(orders={"O1": order_snapshot(fast, T0)},
                                      arrivals=[arrival("O1")]))
        assert writer.write_now(Batch(orders={"O2": order_snapshot(slow, T0),
                                              "O3": broken_row},
                                      arrivals=[arrival("O2"), arrival("O3")]))
        fast.apply(Trigger.ACCEPT)
        assert writer.write_now(Batch(orders={"O1": order_snapshot(fast, T0)}))
    finally:
        writer.stop(timeout=2.0)

    # Assert
    assert writer.rows_skipped == 1
    for order_id in ("O1", "O2"):
        found = get_order(engine, order_id)
        assert found is not None
        row = found["order"]
        assert (row["arrival_bid"], row["arrival_ask"], row["arrival_mid"],
                row["arrival_stale"]) == (D("189.50"), D("189.52"), D("189.51"), False)
    assert get_order(engine, "O1")["order"]["status"] == "0"  # type: ignore[index]
    loaded = {o.order_id: o for o in load_open_orders(engine)}
    assert loaded["O1"].arrival_mid == D("189.51")
    assert loaded["O2"].arrival_stale is False
    listed = {row["order_id"]: row for row in list_orders(engine, "all")}
    assert listed["O1"]["arrival_bid"] == D("189.50")
