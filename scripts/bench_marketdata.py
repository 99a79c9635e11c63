"""Market-data throughput into the port, and the order path with a feed running (#20).

Three parts, each printed as a line and all of them as one JSON line at the end:

(a) FIX: ``oms.bench.mdfeed`` (a recorded publisher in its own process: simplefix on a
    plain socket, ``MarketGenerator``'s seeded events made into X messages in advance) streams
    ``--updates`` updates as fast as the socket takes them, ``--per-message`` to an X, to a
    QuickFIX initiator in this process configured as the OMS configures its market-data
    sessions (FIX44 data dictionary, validation on) whose ``FixMarketDataFeed`` applies them
    to a ``MarketDataBook``: the server's path, from the socket to the port. Updates/s is
    the updates the book took (``on_quote`` + ``on_trade``) from the first to the last, and
    the CPU of this process per update.
(b) replay: the same events written to a replay CSV file, read (``load_ticks``) and
    replayed as fast as possible (``replay``, speed 0) into a ``MarketDataBook``.
(c) the order path with a feed running: ``--pairs`` pairs of ``oms bench`` OMS scenarios
    on SQLite, one without a feed and one with ``--feed-rate`` updates/s streaming to its
    ``[[marketdata_sessions]]`` session, alternating; the medians of orders/s and of the
    OMS's CPU per order, and their ratios (with / without).

    python scripts/bench_marketdata.py                    # all three, ~5 minutes
    python scripts/bench_marketdata.py --skip-orders      # (a) and (b) only, ~1 minute
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from oms.bench.mdfeed import FeedOptions
from oms.bench.runner import Load, Scenario, run_scenario
from oms.fix.engine import Engine
from oms.fix.marketdata import FixMarketDataFeed, MarketDataClient
from oms.fix.settings import SessionSpec
from oms.localproc import free_port, listening, sigterm_unwinds, stop_process
from oms.marketdata.book import MarketDataBook
from oms.marketdata.generator import DEFAULT_SYMBOLS, MarketGenerator, QuoteEvent
from oms.marketdata.port import Tick
from oms.marketdata.replay import COLUMNS, load_ticks, replay, tick_row

SYMBOLS = list(DEFAULT_SYMBOLS)


def fix_path(updates: int, per_message: int, folder: Path) -> dict[str, Any]:
    """(a): see the module's docstring."""
    from oms.bootstrap import fix_defaults
    from oms.config import OmsConfig

    port = free_port()
    publisher = subprocess.Popen(
        [sys.executable, "-m", "oms.bench.mdfeed", "--port", str(port), "--rate", "0",
         "--per-message", str(per_message), "--updates", str(updates),
         "--symbols", ",".join(SYMBOLS)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    book = MarketDataBook()
    feed = FixMarketDataFeed("MD", book, SYMBOLS)
    config = OmsConfig(oms={"sessions_dir": str(folder / "sessions")},
                       upstream=[{"target_comp_id": "CLIENT1", "port": free_port()}],
                       base_dir=folder)
    defaults = fix_defaults(config)
    spec = SessionSpec("OMS", "MARKET", {"SocketConnectHost": "127.0.0.1",
                                         "SocketConnectPort": str(port),
                                         "ReconnectInterval": "1", "ResetOnLogon": "Y"})
    engine = Engine("initiator", MarketDataClient({spec.key: feed}), folder / "md.cfg",
                    defaults, [spec])
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            if time.monotonic() > deadline or publisher.poll() is not None:
                raise RuntimeError("the publisher did not start")
            time.sleep(0.05)
        engine.start()
        snapshots = len(SYMBOLS)
        deadline = time.monotonic() + 60
        while book.stats.quotes < snapshots:
            if time.monotonic() > deadline:
                raise RuntimeError("no snapshots from the publisher")
            time.sleep(0.001)
        taken = book.stats.quotes + book.stats.trades
        started, cpu = time.perf_counter(), time.process_time()
        first = None
        # every symbol is subscribed before the stream starts, so each X holds per_message
        # updates (the last one what is left)
        target = snapshots + -(-updates // per_message)
        deadline = time.monotonic() + 600
        while feed.messages < target:
            if first is None and feed.messages > snapshots:
                first = time.perf_counter()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{feed.messages - snapshots} of {target - snapshots} "
                                   f"messages in 600 s")
            time.sleep(0.0005)
        elapsed = time.perf_counter() - (first or started)
        cpu = time.process_time() - cpu
        # a message's quotes of one symbol reach the book as one (its latest)
        port_calls = book.stats.quotes + book.stats.trades - taken
    finally:
        engine.stop()
        stop_process(publisher, 15.0)
    return {"updates": updates, "messages": feed.messages - snapshots,
            "per_message": per_message, "port_calls": port_calls,
            "seconds": round(elapsed, 3),
            "updates_per_s": round(updates / elapsed) if elapsed else None,
            "cpu_us_per_update": round(cpu * 1e6 / max(updates, 1), 2),
            "resubscriptions": feed.resubscriptions}


def replay_path(updates: int, folder: Path) -> dict[str, Any]:
    """(b): see the module's docstring."""
    from datetime import UTC, datetime, timedelta

    path = folder / "ticks.csv"
    start = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    with open(path, "w", encoding="utf-8") as out:
        out.write(",".join(COLUMNS) + "\n")
        for i, event in enumerate(MarketGenerator(SYMBOLS, seed=1).take(updates)):
            ts = start + timedelta(milliseconds=10 * i)
            if isinstance(event, QuoteEvent):
                tick = Tick(ts, event.symbol, "quote", event.bid, event.bid_size, event.ask,
                            event.ask_size)
            else:
                tick = Tick(ts, event.symbol, "trade", px=event.px, qty=event.qty)
            out.write(tick_row(tick) + "\n")
    started = time.perf_counter()
    ticks = load_ticks(path)
    loaded = time.perf_counter() - started
    book = MarketDataBook()
    started, cpu = time.perf_counter(), time.process_time()
    counts = replay(ticks, book, 0.0)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    applied = counts.quotes + counts.trades
    return {"updates": applied, "load_seconds": round(loaded, 3),
            "seconds": round(elapsed, 3),
            "updates_per_s": round(applied / elapsed) if elapsed else None,
            "with_file_read_per_s": round(applied / (elapsed + loaded)),
            "cpu_us_per_update": round(cpu * 1e6 / max(applied, 1), 2),
            "bars_closed": book.stats.bars_closed}


def order_path(pairs: int, orders: int, feed_rate: float, per_message: int
               ) -> dict[str, Any]:
    """(c): see the module's docstring."""
    load = Load(orders=orders, rate=0.0, window=200, warmup=300)
    runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "feed": []}
    for pair in range(pairs):
        for name, rate in (("quiet", 0.0), ("feed", feed_rate)):
            result = run_scenario(Scenario("oms-sqlite", "oms", feed_rate=rate,
                                           feed_per_message=per_message), load)
            if result["completed"] != orders:
                raise RuntimeError(f"{name} run {pair + 1}: {result['completed']} of {orders}")
            runs[name].append(result)
            print(f"  pair {pair + 1} {name:<5} {result['orders_per_s']:>8,.0f} orders/s  "
                  f"CPU {result['cpu_us_per_order']:>6,.0f} us/order"
                  + (f"  feed {result['feed_updates_per_s']:,} upd/s"
                     if rate else ""), flush=True)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    quiet_rate, feed_rate_ = median("quiet", "orders_per_s"), median("feed", "orders_per_s")
    quiet_cpu, feed_cpu = median("quiet", "cpu_us_per_order"), median("feed", "cpu_us_per_order")
    return {"pairs": pairs, "orders": orders, "feed_rate": feed_rate,
            "per_message": per_message,
            "orders_per_s": {"without": quiet_rate, "with": feed_rate_,
                             "ratio": round(feed_rate_ / quiet_rate, 3)},
            "cpu_us_per_order": {"without": quiet_cpu, "with": feed_cpu,
                                 "ratio": round(feed_cpu / quiet_cpu, 3)},
            "feed_updates_per_s": statistics.median(r["feed_updates_per_s"] or 0
                                                    for r in runs["feed"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--per-message", type=int, default=FeedOptions.per_message)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--feed-rate", type=float, default=10_000.0)
    parser.add_argument("--skip-orders", action="store_true")
    args = parser.parse_args()
    document: dict[str, Any] = {"bench": "marketdata"}
    with tempfile.TemporaryDirectory() as folder:
        fix = document["fix"] = fix_path(args.updates, args.per_message, Path(folder))
        print(f"(a) FIX session -> feed -> book  {fix['updates']:>8,} updates "
              f"{fix['updates_per_s']:>9,}/s  ({fix['messages']:,} X of {fix['per_message']}; "
              f"{fix['cpu_us_per_update']} us CPU per update)", flush=True)
        rep = document["replay"] = replay_path(args.updates, Path(folder))
        print(f"(b) replay file -> book          {rep['updates']:>8,} updates "
              f"{rep['updates_per_s']:>9,}/s  ({rep['with_file_read_per_s']:,}/s with the "
              f"file's reading; {rep['cpu_us_per_update']} us CPU per update)", flush=True)
    if not args.skip_orders:
        print(f"(c) oms bench, SQLite, max rate, {args.orders} orders: without / with a "
              f"{args.feed_rate:g} updates/s feed", flush=True)
        orders = document["orders"] = order_path(args.pairs, args.orders, args.feed_rate,
                                                 args.per_message)
        print(f"    orders/s {orders['orders_per_s']['with']:,.0f} / "
              f"{orders['orders_per_s']['without']:,.0f} = {orders['orders_per_s']['ratio']}"
              f";  CPU per order {orders['cpu_us_per_order']['with']:,.0f} / "
              f"{orders['cpu_us_per_order']['without']:,.0f} us = "
              f"{orders['cpu_us_per_order']['ratio']}", flush=True)
    print(json.dumps(document))


if __name__ == "__main__":
    # quickfix resets SIGINT when imported: Ctrl-C and a SIGTERM (a timeout) both unwind,
    # so the publisher and the engines started are stopped
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with sigterm_unwinds():
        main()
