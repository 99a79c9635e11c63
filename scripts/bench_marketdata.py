"""Market-data throughput: (a) ``oms sim market`` -> FIX session -> the feed -> a sink,
(b) the same W/X texts, recorded in (a), applied by a feed from memory, (c) the generator's
events straight into a sink. Prints updates per second and p50/p99 per-update cost.

    PYTHONPATH=. python scripts/bench_marketdata.py --events 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from oms.fix.marketdata import FixMarketDataFeed, MarketDataClient
from oms.fix.settings import SessionSpec
from oms.localproc import free_port
from oms.marketdata.generator import MarketGenerator, QuoteEvent
from oms.marketdata.quotes import LastQuotes
from oms.sim.common import build_engine, stop_engine
from oms.sim.market import MarketSimOptions, MarketSimulator

SYMBOLS = ["AAPL", "MSFT", "IBM", "GOOG", "AMZN"]


def pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000 if ordered else 0.0


def report(name: str, count: int, seconds: float, costs: list[int]) -> None:
    print(f"{name:<34} {count:>8} updates {count / seconds:>10.0f}/s   "
          f"p50 {pct(costs, .5):6.1f} us  p99 {pct(costs, .99):6.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    recorded: list[tuple[str, str]] = []
    costs: list[int] = []
    sink = LastQuotes()
    feed = FixMarketDataFeed("MD", sink, SYMBOLS)
    apply = feed.on_message

    def timed(msg_type: str, text: str) -> bool:
        started = time.perf_counter_ns()
        done = apply(msg_type, text)
        costs.append(time.perf_counter_ns() - started)
        recorded.append((msg_type, text))
        return done

    feed.on_message = timed  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        market = MarketSimulator(MarketSimOptions(
            sessions_dir=Path(folder) / "market", port=port, symbols=SYMBOLS, seed=1, rate=0,
            max_events=args.events))
        spec = SessionSpec("OMS", "MARKET", {"SocketConnectHost": "127.0.0.1",
                                             "SocketConnectPort": str(port),
                                             "ReconnectInterval": "1", "ResetOnLogon": "Y"})
        engine = build_engine("initiator", MarketDataClient({spec.key: feed}),
                              Path(folder) / "feed", [spec], {}, heartbeat_interval=30,
                              file_log=False, data_dictionary=None)
        market.start()
        engine.start()
        try:
            deadline = time.monotonic() + 600
            while not feed.logged_on and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.perf_counter()
            expected = None
            while time.monotonic() < deadline:
                sent = market.application.updates_sent + market.application.snapshots_sent
                if market.application.events >= args.events:
                    expected = sent
                if expected is not None and len(recorded) >= expected:
                    break
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            stop_engine(engine)
            market.stop()
    report("(a) sim market -> FIX -> feed", len(recorded), elapsed, costs)

    replay = FixMarketDataFeed("MD", LastQuotes(), SYMBOLS, send=lambda m: True)
    replay.on_logon()
    # the replayed feed's MDReqIDs are its own: strip 262 so every update is accepted
    texts = [(t, "\x01".join(f for f in x.split("\x01") if not f.startswith("262=")))
             for t, x in recorded]
    memory: list[int] = []
    started = time.perf_counter()
    for msg_type, text in texts:
        t0 = time.perf_counter_ns()
        replay.on_message(msg_type, text)
        memory.append(time.perf_counter_ns() - t0)
    report("(b) recorded W/X -> feed (memory)", len(texts), time.perf_counter() - started,
           memory)

    direct = LastQuotes()
    events = MarketGenerator(SYMBOLS, seed=1).take(args.events)
    direct_costs: list[int] = []
    started = time.perf_counter()
    for event in events:
        t0 = time.perf_counter_ns()
        if isinstance(event, QuoteEvent):
            direct.on_quote(event.symbol, event.bid, event.bid_size, event.ask,
                            event.ask_size, None)  # type: ignore[arg-type]
        else:
            direct.on_trade(event.symbol, event.px, event.qty, None)  # type: ignore[arg-type]
        direct_costs.append(time.perf_counter_ns() - t0)
    report("(c) generator events -> sink", len(events), time.perf_counter() - started,
           direct_costs)


if __name__ == "__main__":
    main()
