"""The broker simulator's market prices (oms/sim/marketfill.py), without FIX."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from oms.marketdata.port import Quote
from oms.sim.marketfill import fill_price, impacted, marketable, on_arrival, reached

BUY, SELL, MARKET, LIMIT = "1", "2", "1", "2"
ONE_BP = D(1)


def quote(bid: str | None, ask: str | None) -> Quote:
    return Quote("AAPL", None if bid is None else D(bid), D(100),
                 None if ask is None else D(ask), D(100), datetime.now(UTC))


def test_buy_market_fills_at_the_ask_plus_impact() -> None:
    q = quote("99.98", "100.02")
    assert on_arrival(BUY, MARKET, None, q) == "marketable"
    assert fill_price(BUY, MARKET, None, q, ONE_BP) == D("100.03")  # 100.02 * 1.0001
    assert fill_price(BUY, MARKET, None, q, D(0)) == D("100.02")


def test_sell_market_fills_at_the_bid_minus_impact() -> None:
    q = quote("99.98", "100.02")
    assert fill_price(SELL, MARKET, None, q, ONE_BP) == D("99.97")  # 99.98 * 0.9999
    assert fill_price(SELL, MARKET, None, q, D(10)) == D("99.88")


def test_impact_rounds_to_the_nearest_tick() -> None:
    assert impacted(BUY, D("35.27"), ONE_BP) == D("35.27")  # +0.0035: under half a tick
    assert impacted(BUY, D("50.00"), ONE_BP) == D("50.01")  # +0.005: half up
    assert impacted(SELL, D("250.00"), D(2)) == D("249.95")


def test_a_marketable_limit_fills_at_the_touch_never_worse_than_its_limit() -> None:
    q = quote("99.98", "100.02")
    assert marketable(BUY, LIMIT, D("100.02"), q)  # at the touch
    assert fill_price(BUY, LIMIT, D("100.02"), q, ONE_BP) == D("100.02")  # capped
    assert fill_price(BUY, LIMIT, D("101"), q, ONE_BP) == D("100.03")
    assert fill_price(SELL, LIMIT, D("99.98"), q, ONE_BP) == D("99.98")
    assert not marketable(SELL, LIMIT, D("99.99"), q)


def test_a_limit_rests_and_a_trade_through_it_fills_it() -> None:
    q = quote("99.98", "100.02")
    assert on_arrival(BUY, LIMIT, D("99.90"), q) == "rest"
    assert not reached(BUY, D("99.90"), q)
    assert not reached(BUY, D("99.90"), q, trade_px=D("99.91"))
    assert reached(BUY, D("99.90"), q, trade_px=D("99.90"))  # at the limit
    assert reached(BUY, D("99.90"), q, trade_px=D("99.85"))  # through it
    assert reached(SELL, D("100.10"), q, trade_px=D("100.12"))
    assert not reached(SELL, D("100.10"), q, trade_px=D("100.05"))


def test_a_print_above_a_buy_limit_does_not_fill_it() -> None:
    assert not reached(BUY, D("99.90"), quote("99.88", "99.95"), trade_px=D("99.93"))


def test_the_opposite_touch_reaching_the_limit_fills_it() -> None:
    assert reached(BUY, D("99.90"), quote("99.85", "99.90"))
    assert not reached(BUY, D("99.90"), quote("99.85", "99.91"))
    assert reached(SELL, D("100.10"), quote("100.10", "100.14"))


def test_without_a_quote_the_order_waits() -> None:
    assert on_arrival(BUY, MARKET, None, None) == "wait"
    assert on_arrival(SELL, LIMIT, D(100), None) == "wait"
    assert on_arrival(BUY, MARKET, None, quote("99.98", None)) == "wait"  # no ask yet
    assert fill_price(BUY, MARKET, None, None, ONE_BP) is None
    # the first quote comes: a market order trades on it
    assert on_arrival(BUY, MARKET, None, quote("99.98", "100.02")) == "marketable"
