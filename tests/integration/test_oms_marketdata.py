"""#20: the OMS's market-data session, against ``oms sim market`` and a raw FIX peer.

Real quickfix sessions over loopback, free ports, temp dirs; everything stopped at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from oms.config import MarketDataSession, OmsConfig
from oms.localproc import free_port
from oms.sim.market import MarketSimOptions, MarketSimulator
from tests.acceptance.fixscript import RawFixBroker
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow

D = Decimal


class MdStack(Stack):
    md_port: int = 0
    md_symbols: list[str] = []  # noqa: RUF012

    @property
    def config(self) -> OmsConfig:
        config = super().config
        config.marketdata_sessions = [MarketDataSession(
            name="MD", target_comp_id="MARKET", port=self.md_port, reconnect_interval=1,
            symbols=self.md_symbols)]
        return config


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[MdStack]:
    built = MdStack(tmp_path, database_url)
    built.md_port = free_port()
    yield built
    built.stop()


@pytest.fixture
def market(tmp_path: Path, stack: MdStack) -> Iterator[MarketSimulator]:
    simulator = MarketSimulator(MarketSimOptions(
        sessions_dir=tmp_path / "market", port=stack.md_port, symbols=["AAPL", "IBM"], seed=3))
    simulator.start(stream=False)
    yield simulator
    simulator.stop()


def test_subscribes_the_symbols_orders_name(stack: MdStack, market: MarketSimulator) -> None:
    stack.start_broker()
    server = stack.start_oms()
    book = server.book
    assert book is not None
    wait_until(lambda: server.application.is_logged_on("FIX.4.4:OMS->MARKET"))
    assert book.quote("IBM") is None  # no symbol configured, no order yet
    client = stack.client()
    client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
    wait_until(lambda: book.quote("IBM") is not None)
    market.emit(100)
    last = market.application.generator.last

    def latest(symbol: str) -> Any:
        return book.quote(symbol)

    wait_until(lambda: latest("IBM").bid == last["IBM"].bid and
               latest("IBM").ask == last["IBM"].ask)
    assert book.quote("AAPL") is None
    states = {s["session"]: s for s in server.session_states()}
    assert states["FIX.4.4:OMS->MARKET"]["role"] == "market_data"
    assert server.readiness()["ok"]


def test_raw_peer_snapshot_updates_and_reject(stack: MdStack) -> None:
    stack.md_symbols = ["AAPL", "ZZZ"]
    peer = RawFixBroker(stack.md_port, "MARKET", "OMS")
    try:
        stack.start_broker()
        stack.start_oms(before_logon=lambda: peer.accept_logon(reset=True))
        server = stack.server
        assert server is not None
        book = server.book
        assert book is not None
        requests = [peer.receive_application(), peer.receive_application()]
        assert [r["35"] for r in requests] == ["V", "V"]
        assert {r["55"] for r in requests} == {"AAPL", "ZZZ"}
        assert all(r["263"] == "1" and r["264"] == "1" and r["146"] == "1" for r in requests)
        aapl = next(r["262"] for r in requests if r["55"] == "AAPL")
        zzz = next(r["262"] for r in requests if r["55"] == "ZZZ")
        peer.send([("35", "W"), ("262", aapl), ("55", "AAPL"), ("268", "2"),
                   ("269", "0"), ("270", "10.10"), ("271", "500"),
                   ("269", "1"), ("270", "10.20"), ("271", "400")])
        wait_until(lambda: book.quote("AAPL") is not None)
        assert book.quote("AAPL").bid == D("10.10")  # type: ignore[union-attr]
        peer.send([("35", "X"), ("262", aapl), ("268", "3"),
                   ("279", "2"), ("269", "1"), ("55", "AAPL"),
                   ("279", "0"), ("269", "1"), ("278", "A7"), ("55", "AAPL"),
                   ("270", "10.15"), ("271", "100"),
                   ("279", "0"), ("269", "2"), ("278", "T1"), ("55", "AAPL"),
                   ("270", "10.12"), ("271", "300")])
        wait_until(lambda: book.quote("AAPL").ask == D("10.15"))  # type: ignore[union-attr]
        assert book.quote("AAPL").ask_size == D(100)  # type: ignore[union-attr]
        trade = book.last_trade("AAPL")
        assert trade is not None and (trade.px, trade.qty) == (D("10.12"), D(300))
        peer.send([("35", "Y"), ("262", zzz), ("281", "0"), ("58", "not listed")])
        wait_until(lambda: book.stats.statuses)
        assert "ZZZ" in book.stats.statuses[0][1] and "not listed" in book.stats.statuses[0][1]
        # a change of an entry the OMS never heard of: it resubscribes AAPL
        peer.send([("35", "X"), ("262", aapl), ("268", "1"),
                   ("279", "1"), ("269", "0"), ("278", "GHOST"), ("55", "AAPL"),
                   ("271", "1")])
        unsubscribe, again = peer.receive_application(), peer.receive_application()
        assert (unsubscribe["35"], unsubscribe["263"], unsubscribe["262"]) == ("V", "2", aapl)
        assert (again["35"], again["263"], again["55"]) == ("V", "1", "AAPL")
        assert again["262"] != aapl
    finally:
        stack.stop()
        peer.close()


def test_a_day_through_the_stack_quotes_orders_fills_at_the_market_and_bars_stored(
        stack: MdStack, tmp_path: Path) -> None:
    # Arrange: one simulated market, read by the OMS (arrival quotes) and by the broker
    # simulator (its fills), as `oms demo` runs them
    simulator = MarketSimulator(MarketSimOptions(
        sessions_dir=tmp_path / "market", port=stack.md_port, symbols=["AAPL", "IBM"],
        target_comp_ids=["OMS", "BROKER1"], seed=5))
    simulator.start(stream=False)
    try:
        stack.md_symbols = ["AAPL", "IBM"]
        stack.broker_options = {"market_port": stack.md_port, "market_sender": "BROKER1",
                                "market_symbols": ["AAPL", "IBM"], "impact_bps": D(2)}
        broker = stack.start_broker()
        server = stack.start_oms()
        book = server.book
        assert book is not None
        wait_until(lambda: book.quote("AAPL") is not None and book.quote("IBM") is not None)
        simulator.emit(200)  # quotes and trades: bars to store
        last = simulator.application.generator.last
        wait_until(lambda: all(book.quote(s).bid == last[s].bid and
                               book.quote(s).ask == last[s].ask for s in ("AAPL", "IBM")))
        broker_feed = broker.market_feed
        assert broker_feed is not None
        wait_until(lambda: all(broker_feed.quote(s) is not None and
                               broker_feed.quote(s).ask == last[s].ask for s in ("AAPL", "IBM")))
        trades = {s: book.day_volume(s) for s in ("AAPL", "IBM")}
        assert all(volume > 0 for volume in trades.values())
        metrics = server.metrics.render().decode()
        assert f'oms_marketdata_updates_total{{kind="trade"}} {book.stats.trades:.1f}' in metrics
        assert 'oms_marketdata_fix_messages_total{session="MD"}' in metrics
        assert "oms_marketdata_stale_symbols 0.0" in metrics
        aapl, ibm = last["AAPL"], last["IBM"]

        # Act: a market buy and a market sell, with the market standing still
        client = stack.client()
        client.send_order(symbol="AAPL", side="buy", qty=300, ord_type="1")
        client.send_order(symbol="IBM", side="sell", qty=200, ord_type="1")
        assert client.wait_done(timeout=20)
        stack.stop_oms()  # a clean stop hands the open bars to the writer

        # Assert: each order has its arrival quote; each filled at the touch worsened by
        # the impact (2 bps), rounded to the cent
        with sa.create_engine(stack.database_url).connect() as connection:
            orders = {row.symbol: row for row in connection.execute(sa.text(
                "SELECT o.symbol, a.bid AS arrival_bid, a.ask AS arrival_ask, "
                "a.mid AS arrival_mid, a.stale AS arrival_stale, o.status, o.avg_px "
                "FROM orders o JOIN order_arrivals a ON a.order_id = o.order_id"))}
            fills = {row.symbol: row for row in connection.execute(sa.text(
                "SELECT o.symbol, e.last_px, e.last_qty FROM executions e JOIN orders o "
                "ON o.order_id = e.order_id WHERE e.exec_type = 'F'"))}
            bars = list(connection.execute(sa.text(
                "SELECT symbol, volume FROM market_bars")))
        for symbol, quote in (("AAPL", aapl), ("IBM", ibm)):
            row = orders[symbol]
            assert (D(str(row.arrival_bid)), D(str(row.arrival_ask))) == (quote.bid, quote.ask)
            assert D(str(row.arrival_mid)) == (quote.bid + quote.ask) / 2
            assert not row.arrival_stale
            assert row.status == "2"
        assert D(str(fills["AAPL"].last_px)) == (aapl.ask * D("1.0002")).quantize(D("0.01"))
        assert D(str(fills["IBM"].last_px)) == (ibm.bid * D("0.9998")).quantize(D("0.01"))
        assert D(str(fills["AAPL"].last_qty)) == 300 and D(str(fills["IBM"].last_qty)) == 200
        stored = {}
        for symbol, volume in bars:
            stored[symbol] = stored.get(symbol, D(0)) + D(str(volume))
        assert stored == trades  # every trade of the day is in a stored bar
    finally:
        simulator.stop()
