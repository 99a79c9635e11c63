"""Replay of recorded quotes and trades into any ``MarketDataSink``.

The file format (CSV, one header line, UTF-8)::

    ts,symbol,kind,bid,bid_size,ask,ask_size,px,qty
    2026-03-02T14:30:00.250Z,AAPL,quote,189.50,300,189.52,200,,
    2026-03-02T14:30:01Z,AAPL,trade,,,,,189.51,100

- ``ts``: ISO 8601; a time without an offset is UTC.
- ``kind``: ``quote`` (``bid``, ``bid_size``, ``ask``, ``ask_size``; a side left empty is
  absent) or ``trade`` (``px`` and ``qty``, both required, ``qty`` positive).
- Prices and sizes are decimal text, read as ``Decimal`` (never a float).

A ``.parquet`` file with the same columns is read too when pyarrow is installed (it is not
a dependency of the OMS); its numbers are read through their text, so a float column gives
the digits it prints. Tick files (``[marketdata] tick_file_dir``) are written in the CSV
format, so a recorded day replays.

The whole file is read and checked before the first tick is fed: a bad line is an error
naming the file and line, and nothing of the file reaches the sink.

Speed: 1 replays at the recorded pace, N at N times that, 0 as fast as possible.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from oms.marketdata.port import MarketDataSink, Tick

COLUMNS = ("ts", "symbol", "kind", "bid", "bid_size", "ask", "ask_size", "px", "qty")
KINDS = ("quote", "trade")


class ReplayFileError(ValueError):
    """A replay file that cannot be read: says which file and line, and why."""


@dataclass
class ReplayCounts:
    quotes: int = 0
    trades: int = 0


def _decimal(text: Any, column: str) -> Decimal | None:
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{column} {text!r} is not a finite number of at least 0")
    return value


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        ts = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ValueError("ts is empty")
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"ts {text!r} is not an ISO 8601 time") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def tick_of(row: dict[str, Any]) -> Tick:
    """A row (column -> value) as a ``Tick``; ``ValueError`` says what is wrong with it."""
    ts = _timestamp(row.get("ts"))
    symbol = str(row.get("symbol") or "").strip()
    if not symbol:
        raise ValueError("symbol is empty")
    kind = str(row.get("kind") or "").strip().lower()
    if kind == "quote":
        tick = Tick(ts, symbol, kind, _decimal(row.get("bid"), "bid"),
                    _decimal(row.get("bid_size"), "bid_size"),
                    _decimal(row.get("ask"), "ask"), _decimal(row.get("ask_size"), "ask_size"))
        if tick.bid is None and tick.ask is None:
            raise ValueError("a quote needs a bid or an ask")
        return tick
    if kind == "trade":
        px, qty = _decimal(row.get("px"), "px"), _decimal(row.get("qty"), "qty")
        if px is None or qty is None or qty <= 0:
            raise ValueError("a trade needs px and a positive qty")
        return Tick(ts, symbol, kind, px=px, qty=qty)
    raise ValueError(f"kind {kind!r} is neither quote nor trade")


def _text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def tick_row(tick: Tick) -> str:
    """A tick as a line of the CSV format (no newline)."""
    return ",".join((tick.ts.isoformat(), tick.symbol, tick.kind, _text(tick.bid),
                     _text(tick.bid_size), _text(tick.ask), _text(tick.ask_size),
                     _text(tick.px), _text(tick.qty)))


def _rows_csv(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as lines:
        reader = csv.DictReader(lines)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ReplayFileError(f"{path}: the header must name {','.join(COLUMNS)}; "
                                  f"missing {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, row


def _rows_parquet(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq  # optional: not a dependency of the OMS
    except ImportError:
        raise ReplayFileError(f"{path}: reading parquet needs pyarrow, which is not "
                              f"installed (pip install pyarrow), or give a CSV file") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors say what is wrong
        raise ReplayFileError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ReplayFileError(f"{path}: the columns must be {','.join(COLUMNS)}; "
                              f"missing {', '.join(missing)}")
    yield from enumerate(table.to_pylist(), 1)


def load_ticks(path: str | Path) -> list[Tick]:
    """Every tick of a replay file, checked (``ReplayFileError`` on the first bad row)."""
    path = Path(path)
    if not path.is_file():
        raise ReplayFileError(f"{path}: no such file")
    rows = _rows_parquet(path) if path.suffix.lower() == ".parquet" else _rows_csv(path)
    ticks = []
    try:
        for number, row in rows:
            try:
                ticks.append(tick_of(row))
            except ValueError as exc:
                raise ReplayFileError(f"{path}:{number}: {exc}") from None
    except UnicodeDecodeError:
        raise ReplayFileError(f"{path}: not a UTF-8 text file") from None
    return ticks


def feed(tick: Tick, sink: MarketDataSink) -> None:
    if tick.kind == "quote":
        sink.on_quote(tick.symbol, tick.bid, tick.bid_size, tick.ask, tick.ask_size, tick.ts)
    else:
        assert tick.px is not None and tick.qty is not None
        sink.on_trade(tick.symbol, tick.px, tick.qty, tick.ts)


def replay(ticks: Iterable[Tick], sink: MarketDataSink, speed: float = 0.0, *,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep,
           stopped: Callable[[], bool] = lambda: False) -> ReplayCounts:
    """Feed ``ticks`` to ``sink`` in file order: at ``speed`` times the recorded pace (each
    tick waits until its offset from the first tick, divided by ``speed``, has passed on
    ``clock``), or as fast as possible with ``speed`` 0. ``stopped`` ends it early."""
    if speed < 0:
        raise ValueError(f"speed must be 0 (as fast as possible) or more, not {speed}")
    counts = ReplayCounts()
    first: datetime | None = None
    started = clock()
    for tick in ticks:
        if stopped():
            break
        if speed > 0:
            if first is None:
                first = tick.ts
            due = started + (tick.ts - first).total_seconds() / speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        feed(tick, sink)
        if tick.kind == "quote":
            counts.quotes += 1
        else:
            counts.trades += 1
    return counts
