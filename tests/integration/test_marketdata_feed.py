"""The FIX market-data side over loopback: ``oms sim market`` and the feed that reads it.

Real quickfix sessions on free ports, temp directories; every engine is stopped at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oms.fix.engine import Engine
from oms.fix.marketdata import FixMarketDataFeed, MarketDataClient
from oms.fix.settings import SessionSpec
from oms.localproc import free_port
from oms.marketdata.quotes import LastQuotes
from oms.sim.common import build_engine, stop_engine
from oms.sim.market import MarketSimOptions, MarketSimulator

WAIT = 10.0


def wait_for(condition: Callable[[], object], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


@pytest.fixture
def running() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, Engine):
            stop_engine(thing)
        else:
            thing.stop()


def start_market(tmp_path: Path, running: list[Any], port: int, **options: Any) -> MarketSimulator:
    simulator = MarketSimulator(MarketSimOptions(
        sessions_dir=tmp_path / "market", port=port, target_comp_ids=["OMS"],
        symbols=["AAPL", "IBM"], seed=1, **options))
    simulator.start(stream=False)
    running.append(simulator)
    return simulator


def start_feed(tmp_path: Path, running: list[Any], port: int, symbols: list[str]
               ) -> tuple[FixMarketDataFeed, LastQuotes]:
    sink = LastQuotes()
    feed = FixMarketDataFeed("MD", sink, symbols)
    spec = SessionSpec("OMS", "MARKET", {"SocketConnectHost": "127.0.0.1",
                                         "SocketConnectPort": str(port),
                                         "ReconnectInterval": "1", "ResetOnLogon": "Y"})
    engine = build_engine("initiator", MarketDataClient({spec.key: feed}), tmp_path / "feed",
                          [spec], {}, heartbeat_interval=30, file_log=False,
                          data_dictionary=None)
    engine.start()
    running.append(engine)
    return feed, sink


def test_quotes_and_trades_arrive_and_resubscribe_after_a_restart(tmp_path, running) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    market = start_market(tmp_path, running, port)
    feed, sink = start_feed(tmp_path, running, port, ["AAPL", "IBM"])
    assert wait_for(lambda: len(sink.quotes) == 2), "no snapshot of both symbols"
    market.emit(400)
    assert wait_for(lambda: market.application.events == 400 and sink.trades and
                    sink.quotes["AAPL"].bid == market.application.generator.last["AAPL"].bid
                    and sink.quotes["IBM"].ask == market.application.generator.last["IBM"].ask)
    assert feed.resubscriptions == 0
    quote = sink.quotes["AAPL"]
    assert quote.bid is not None and quote.ask is not None and quote.bid < quote.ask
    # the market restarts: the feed logs on again and subscribes again
    market.stop()
    running.remove(market)
    assert wait_for(lambda: not feed.logged_on)
    sink.quotes.clear()
    market = start_market(tmp_path / "again", running, port)
    assert wait_for(lambda: len(sink.quotes) == 2, 15), "no resubscription after the restart"
    market.emit(50)
    assert wait_for(lambda: sink.quotes["IBM"].bid == market.application.generator.last["IBM"].bid)


def test_unknown_symbol_is_rejected(tmp_path, running) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    market = start_market(tmp_path, running, port)
    feed, sink = start_feed(tmp_path, running, port, ["AAPL", "NOPE"])
    assert wait_for(lambda: sink.statuses and "AAPL" in sink.quotes)
    assert "NOPE" in sink.statuses[0][1] and "unknown symbol" in sink.statuses[0][1]
    assert "NOPE" in feed.rejected and market.application.rejects_sent == 1


def test_same_seed_same_stream_on_the_wire(tmp_path, running) -> None:  # type: ignore[no-untyped-def]
    seen: list[list[Any]] = []
    for run in range(2):
        port = free_port()
        market = start_market(tmp_path / str(run), running, port)
        feed, sink = start_feed(tmp_path / str(run), running, port, ["AAPL"])
        trades: list[Any] = []
        sink.on_trade = lambda s, px, qty, ts, trades=trades: trades.append((s, px, qty))  # type: ignore[method-assign]
        assert wait_for(lambda sink=sink: "AAPL" in sink.quotes)
        market.emit(300)
        assert wait_for(lambda market=market: market.application.events == 300)
        time.sleep(0.3)
        seen.append(trades)
        # one SessionID per process: stop both before the next run's
        for thing in reversed(running):
            stop_engine(thing) if isinstance(thing, Engine) else thing.stop()
        running.clear()
    assert seen[0] and seen[0] == seen[1]
