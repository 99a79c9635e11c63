"""The market data writer: a thread of its own that stores closed bars and, when asked,
appends every tick to a per-day CSV file.

The book calls ``bar_closed`` and ``tick`` on the adapter's thread; they only queue. The
thread takes everything waiting as one batch: the bars go to the ``BarStore`` in one
transaction (``oms.store.bars``: its own connection, never the core's journal), the ticks
to ``ticks-YYYY-MM-DD.csv`` in ``tick_dir`` (the replay format, ``oms.marketdata.replay``,
so a recorded day replays). A failed write is logged and the next batch goes on: market
data must never stop the adapter that feeds it, nor the order path.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Protocol

from oms.marketdata.port import Bar, Tick
from oms.marketdata.replay import COLUMNS, tick_row

log = logging.getLogger(__name__)

_STOP = object()


class BarStore(Protocol):
    def write_bars(self, bars: list[Bar]) -> None:
        """Insert or replace the bars by (symbol, minute), in one transaction."""


class MarketDataWriter:
    """A ``BarSink`` that writes on its own thread (see the module's docstring)."""

    def __init__(self, store: BarStore | None = None, tick_dir: Path | None = None,
                 max_batch: int = 5000) -> None:
        self.store = store
        self.tick_dir = tick_dir
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.bars_written = 0
        self.ticks_written = 0
        self.failures = 0
        self._thread: threading.Thread | None = None

    # --- the BarSink (any thread) --------------------------------------------------------
    def bar_closed(self, bar: Bar) -> None:
        self.queue.put(bar)

    def tick(self, tick: Tick) -> None:
        if self.tick_dir is not None:
            self.queue.put(tick)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> MarketDataWriter:
        if self.tick_dir is not None:
            self.tick_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="oms-marketdata-writer",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        if self._thread is not None:
            self.queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            items = [self.queue.get()]
            while len(items) < self.max_batch:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in items:
                stopping = True
                items = [item for item in items if item is not _STOP]
            self._write(items)

    def _write(self, items: list[object]) -> None:
        # the last version of each bar in the batch (a bar flushed open, then closed)
        bars = {(i.symbol, i.minute): i for i in items if isinstance(i, Bar)}
        ticks = [i for i in items if isinstance(i, Tick)]
        if bars and self.store is not None:
            try:
                self.store.write_bars(list(bars.values()))
                self.bars_written += len(bars)
            except Exception:
                self.failures += 1
                log.exception("could not store %d market data bars", len(bars))
        if ticks and self.tick_dir is not None:
            try:
                self._append_ticks(ticks)
                self.ticks_written += len(ticks)
            except OSError:
                self.failures += 1
                log.exception("could not append %d ticks under %s", len(ticks), self.tick_dir)

    def _append_ticks(self, ticks: list[Tick]) -> None:
        assert self.tick_dir is not None
        by_day: dict[str, list[Tick]] = {}
        for tick in ticks:
            by_day.setdefault(tick.ts.date().isoformat(), []).append(tick)
        for day, rows in by_day.items():
            path = self.tick_dir / f"ticks-{day}.csv"
            new = not path.exists()
            with path.open("a", encoding="utf-8", newline="") as out:
                if new:
                    out.write(",".join(COLUMNS) + "\n")
                out.writelines(tick_row(tick) + "\n" for tick in rows)
