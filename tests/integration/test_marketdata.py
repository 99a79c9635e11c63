"""#20 end to end: `oms marketdata load` stores a recorded day's bars (SQLite and
PostgreSQL); an `oms serve` fed by a replay gives its orders arrival quotes, and `oms quotes`
reads its book."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path

import pytest

from oms.config import MarketDataConfig, OmsConfig
from oms.store.bars import BarTable
from oms.store.db import make_engine
from tests.integration.stack import Stack, wait_until

DAY = """ts,symbol,kind,bid,bid_size,ask,ask_size,px,qty
2026-03-02T14:30:00Z,IBM,quote,99.98,500,100.02,300,,
2026-03-02T14:30:05Z,IBM,trade,,,,,100.00,100
2026-03-02T14:30:30Z,IBM,trade,,,,,100.50,300
2026-03-02T14:31:10Z,IBM,trade,,,,,99.90,200
2026-03-02T14:31:20Z,MSFT,trade,,,,,400,10
"""


def oms(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_a_recorded_day_loads_into_bars_and_a_bad_file_stores_nothing(
        tmp_path: Path, database_url: str) -> None:
    # Arrange
    good, bad = tmp_path / "day.csv", tmp_path / "bad.csv"
    good.write_text(DAY)
    bad.write_text(DAY + "2026-03-02T14:32:00Z,IBM,trade,,,,,abc,1\n")

    # Act
    refused = oms("marketdata", "load", str(bad), "--database-url", database_url)
    loaded = oms("marketdata", "load", str(good), "--database-url", database_url)
    again = oms("marketdata", "load", str(good), "--database-url", database_url)

    # Assert
    assert refused.returncode == 2
    assert "bad.csv:7: px 'abc' is not a number" in refused.stderr + refused.stdout
    assert loaded.returncode == 0, loaded.stderr
    assert "1 quotes, 4 trades, 2 symbols; 3 one-minute bars stored" in loaded.stdout
    assert again.returncode == 0, again.stderr  # loaded twice: the same bars, replaced
    engine = make_engine(database_url)
    try:
        bars = BarTable(engine).bars()
    finally:
        engine.dispose()
    # 14:30 IBM: 100.00 x 100 + 100.50 x 300 = 40150 over 400 -> 100.375
    assert [(b.symbol, b.minute.minute, b.open, b.high, b.low, b.close, b.volume, b.vwap)
            for b in bars] == [
        ("IBM", 30, D("100.00"), D("100.50"), D("100.00"), D("100.50"), D(400), D("100.375")),
        ("IBM", 31, D("99.90"), D("99.90"), D("99.90"), D("99.90"), D(200), D("99.90")),
        ("MSFT", 31, D(400), D(400), D(400), D(400), D(10), D(400)),
    ]


@dataclass
class ReplayStack(Stack):
    """The stack with a market data replay at the server's start."""

    replay_file: str = ""

    @property
    def config(self) -> OmsConfig:
        config = super().config
        return config.model_copy(update={"marketdata": MarketDataConfig(
            replay_file=self.replay_file, replay_speed=0, stale_after=5)})


@pytest.mark.slow
def test_a_served_order_gets_the_replayed_arrival_quote_and_oms_quotes_shows_the_book(
        tmp_path: Path) -> None:
    # Arrange: `oms serve` replays the day at start, as fast as possible
    (tmp_path / "day.csv").write_text(DAY)
    database_url = f"sqlite:///{tmp_path / 'oms.db'}"
    stack = ReplayStack(tmp_path, database_url, replay_file=str(tmp_path / "day.csv"))
    config_path = tmp_path / "oms.toml"
    try:
        stack.start_broker()
        stack.start_oms_process()
        client = stack.client()

        def quotes() -> list[dict[str, object]] | None:
            result = oms("quotes", "--json", "--config", str(config_path))
            rows = json.loads(result.stdout) if result.returncode == 0 else []
            return rows if any(r["symbol"] == "MSFT" for r in rows) else None

        rows = wait_until(quotes, timeout=30)

        # Act
        cl_ord_id = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
        wait_until(lambda: client.order(cl_ord_id).order_id)
        order_id = client.order(cl_ord_id).order_id
        shown = oms("orders", "show", order_id, "--json", "--database-url", database_url)
        table = oms("quotes", "IBM", "--config", str(config_path))

        # Assert
        ibm = next(r for r in rows if r["symbol"] == "IBM")
        assert (ibm["bid"], ibm["ask"], ibm["mid"], ibm["last"], ibm["volume"],
                ibm["stale"]) == ("99.98", "100.02", "100.00", "99.90", "600", True)
        assert D(str(ibm["vwap"])) == D(60130) / D(600)
        assert shown.returncode == 0, shown.stderr
        order = json.loads(shown.stdout)["order"]
        # the quote is from the recording: stale by the wall clock
        assert (order["arrival_bid"], order["arrival_ask"], order["arrival_mid"],
                order["arrival_stale"]) == ("99.98", "100.02", "100", True)
        assert table.returncode == 0, table.stderr
        assert "IBM" in table.stdout and "MSFT" not in table.stdout
    finally:
        stack.stop()
