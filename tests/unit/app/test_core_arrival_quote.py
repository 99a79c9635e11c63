"""#20: every new order keeps the quote it arrived to (bid, ask, mid, stale) from the market
data book the core is given, written once with the order's first row (``Batch.arrivals``,
the ``order_arrivals`` table); no quote, nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from oms.app.records import ArrivalQuote
from oms.marketdata.book import MarketDataBook
from tests.unit.app.harness import START, Harness, submit_order


def test_an_order_keeps_the_quote_of_its_symbol_when_it_arrived() -> None:
    # Arrange
    harness = Harness()
    book = MarketDataBook(stale_after=5)
    harness.core.quotes = book
    book.on_quote("ACME", D("9.98"), D(500), D("10.02"), D(300), START - timedelta(seconds=1))

    # Act
    step = harness.run(submit_order("C1"))
    book.on_quote("ACME", D("9.00"), D(1), D("9.10"), D(1), START)  # later: not its arrival
    later = harness.run(submit_order("C2", symbol="OTHER"))

    # Assert
    order = harness.order("C1")
    assert step.batch.arrivals == [ArrivalQuote(order.order_id, D("9.98"), D("10.02"),
                                                D("10.00"), False)]
    assert order.order_id in step.batch.orders  # in the same batch as the order's first row
    assert (order.arrival_bid, order.arrival_mid) == (D("9.98"), D("10.00"))
    assert later.batch.arrivals == []
    other = harness.order("C2")
    assert (other.arrival_bid, other.arrival_ask, other.arrival_mid,
            other.arrival_stale) == (None, None, None, None)


def test_a_stale_quote_is_kept_and_marked_stale_and_a_one_sided_one_has_no_mid() -> None:
    # Arrange
    harness = Harness()
    book = MarketDataBook(stale_after=5)
    harness.core.quotes = book
    book.on_quote("ACME", D("9.98"), D(500), None, None, START - timedelta(seconds=6))

    # Act
    step = harness.run(submit_order("C1"))

    # Assert
    [row] = step.batch.arrivals
    assert (row.bid, row.ask, row.mid, row.stale) == (D("9.98"), None, None, True)


def test_a_core_without_market_data_gives_no_arrival_quote() -> None:
    # Act
    harness = Harness()
    step = harness.run(submit_order("C1"))

    # Assert
    assert step.batch.arrivals == []
    order = harness.order("C1")
    assert order.arrival_mid is None and order.arrival_stale is None
