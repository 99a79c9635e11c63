"""The broker simulator filling at the prices of ``oms sim market`` (#20): a market
simulator, a broker simulator reading it (``market_port``) and an upstream client, each a
real quickfix engine on a free loopback port, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms.localproc import free_port
from oms.sim.broker import BrokerSimOptions, BrokerSimulator
from oms.sim.client import ClientOptions, UpstreamClient
from oms.sim.market import MarketSimOptions, MarketSimulator
from oms.sim.marketfill import impacted, reached

WAIT = 10.0
IMPACT = Decimal(2)


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.market_port = free_port()
        self.running: list[Any] = []
        self.market: MarketSimulator | None = None

    def start_market(self, **options: Any) -> MarketSimulator:
        market = MarketSimulator(MarketSimOptions(
            sessions_dir=self.tmp_path / "market", port=self.market_port,
            target_comp_ids=["BROKERMD"], symbols=["AAPL", "IBM"], seed=3, **options))
        market.start(stream=False)  # events only when the test emits them
        self.running.append(market)
        self.market = market
        return market

    def start_broker_and_client(self, **broker: Any) -> tuple[BrokerSimulator, UpstreamClient]:
        port = free_port()
        options = BrokerSimOptions(
            sessions_dir=self.tmp_path / "broker", port=port, target_comp_ids=["CLIENT1"],
            market_port=self.market_port, market_sender="BROKERMD", impact_bps=IMPACT,
            **broker)
        simulator = BrokerSimulator(options)
        simulator.start()
        self.running.append(simulator)
        client = UpstreamClient(ClientOptions(
            sessions_dir=self.tmp_path / "client", port=port, sender_comp_id="CLIENT1",
            target_comp_id="BROKER1", seed=5, orders=0, timeout=WAIT))
        client.start()
        self.running.append(client)
        assert client.wait_logged_on(WAIT)
        return simulator, client


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    for thing in reversed(rig.running):
        thing.stop()


def fills(client: UpstreamClient, cl_ord_id: str) -> list[tuple[str, Decimal, Decimal]]:
    return client.order(cl_ord_id).fills


def test_market_orders_fill_at_the_touch_worsened_by_the_impact(rig: Rig) -> None:
    market = rig.start_market()
    broker, client = rig.start_broker_and_client(market_symbols=["AAPL"])
    assert client.wait_for(lambda: broker.application.market is not None and
                           broker.application.market.quote("AAPL") is not None, WAIT)
    last = market.application.generator.last["AAPL"]  # no events: the snapshot's quote
    buy = client.send_order(symbol="AAPL", side="buy", qty=100, ord_type="1")
    sell = client.send_order(symbol="AAPL", side="sell", qty=100, ord_type="1")
    assert client.wait_done(WAIT)
    assert [px for _, _, px in fills(client, buy)] == [impacted("1", last.ask, IMPACT)]
    assert [px for _, _, px in fills(client, sell)] == [impacted("2", last.bid, IMPACT)]
    assert impacted("1", last.ask, IMPACT) > last.ask and impacted("2", last.bid, IMPACT) < last.bid


def test_partial_fills_each_take_the_touch_of_their_time(rig: Rig) -> None:
    market = rig.start_market()
    broker, client = rig.start_broker_and_client(
        market_symbols=["IBM"], fill_mode="partial", partial_fills=3, fill_interval=0.3)
    assert client.wait_for(lambda: broker.application.market.quote("IBM") is not None, WAIT)  # type: ignore[union-attr]
    buy = client.send_order(symbol="IBM", side="buy", qty=300, ord_type="1")
    asks = []
    for _ in range(3):  # move the market between fills
        n = len(fills(client, buy))
        asks.append(market.application.generator.last["IBM"].ask)
        assert client.wait_for(lambda n=n: len(fills(client, buy)) > n, WAIT)
        market.emit(40)
        assert client.wait_for(lambda: broker.application.market.quote("IBM").ask ==  # type: ignore[union-attr]
                               market.application.generator.last["IBM"].ask, WAIT)
    assert [px for _, _, px in fills(client, buy)] == [impacted("1", ask, IMPACT) for ask in asks]
    assert client.order(buy).status == "2"


def test_an_order_before_any_quote_waits_for_the_first(rig: Rig) -> None:
    broker, client = rig.start_broker_and_client()  # the market is not up yet
    buy = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
    assert client.wait_for(lambda: client.order(buy).status == "0", WAIT)
    assert broker.counters.orders_waited == 1 and not fills(client, buy)
    market = rig.start_market()  # the broker logs on, subscribes IBM, the snapshot comes
    assert client.wait_done(15)
    ask = market.application.generator.last["IBM"].ask
    assert [px for _, _, px in fills(client, buy)] == [impacted("1", ask, IMPACT)]


def test_a_limit_away_from_the_market_rests_until_the_market_reaches_it(rig: Rig) -> None:
    market = rig.start_market(session_steps=200)  # a lively market: a day in 200 events
    broker, client = rig.start_broker_and_client(market_symbols=["AAPL"])
    assert client.wait_for(lambda: broker.application.market.quote("AAPL") is not None, WAIT)  # type: ignore[union-attr]
    generator = market.application.generator
    limit = generator.last["AAPL"].bid - Decimal("0.05")
    buy = client.send_order(symbol="AAPL", side="buy", qty=100, ord_type="2", price=limit)
    assert client.wait_for(lambda: client.order(buy).status == "0", WAIT)
    for _ in range(20_000):
        market.emit()
        trade = market.application._last_trade.get("AAPL")
        if reached("1", limit, generator.last["AAPL"]) or (trade is not None and trade.px <= limit):
            break
        assert not fills(client, buy)
    else:
        pytest.fail("the market never came down to the limit")
    assert client.wait_done(WAIT)
    assert [px for _, _, px in fills(client, buy)] == [limit]
    assert broker.counters.orders_rested == 1


def test_a_resting_limit_is_canceled_after_rest_timeout(rig: Rig) -> None:
    rig.start_market()
    broker, client = rig.start_broker_and_client(market_symbols=["AAPL"], rest_timeout=0.2)
    assert client.wait_for(lambda: broker.application.market.quote("AAPL") is not None, WAIT)  # type: ignore[union-attr]
    sell = client.send_order(symbol="AAPL", side="sell", qty=100, ord_type="2",
                             price=Decimal("99999"))
    assert client.wait_done(WAIT)
    assert client.order(sell).status == "4" and not fills(client, sell)
    assert broker.counters.rests_expired == 1
