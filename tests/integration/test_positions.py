"""#21: positions through the whole stack: the OMS's fills kept in positions in the commit
of each fill, the same figures from the running server, from the database and rebuilt
from the fills, after a restart too; fees from the broker's schedule.

The expected figures are computed here from the blotter's executions with a fold of our own
(signed quantities, cash moved, fees), not read from the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from oms.store.db import make_engine
from oms.store.schema import executions, fill_fees, orders
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow

SIDE_SIGN = {"1": 1, "2": -1, "5": -1}


def oms(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def expected_from_blotter(database_url: str) -> dict[tuple[str, str], dict[str, Decimal]]:
    """Each (account, symbol): the signed sum of its fills, the cash they moved and their
    fees, read from the executions (ExecType F) as an outside program would."""
    engine = make_engine(database_url)
    e, o, f = executions.c, orders.c, fill_fees.c
    query = (sa.select(o.account, o.symbol, o.side, e.last_qty, e.last_px, f.fee)
             .join(orders, o.order_id == e.order_id)
             .outerjoin(fill_fees, f.exec_id == e.exec_id)
             .where(e.exec_type == "F"))
    found: dict[tuple[str, str], dict[str, Decimal]] = {}
    try:
        with engine.connect() as connection:
            for account, symbol, side, qty, px, fee in connection.execute(query):
                sums = found.setdefault((account, symbol), {
                    "qty": Decimal(0), "cash": Decimal(0), "fees": Decimal(0)})
                signed = SIDE_SIGN[side] * Decimal(qty)
                sums["qty"] += signed
                sums["cash"] -= signed * Decimal(px)
                sums["fees"] += Decimal(fee or 0)
    finally:
        engine.dispose()
    return found


def test_positions_follow_the_fills_live_from_the_database_and_after_a_restart(
        stack, database_url: str, tmp_path: Path):
    # Arrange: per-share and bps commission at the broker, partial fills, buys and sells
    s = stack(broker_options={"fill_mode": "partial", "partial_fills": 2},
              broker_extra={"commission": {"per_share": "0.005", "bps": "0.5",
                                           "minimum": "1.00"}})
    s.start_broker()
    server = s.start_oms()
    client = s.client(orders=30, rate=0, window=10, limit_ratio=0.0,
                      sides=["buy", "buy", "sell"], account="ACC1")
    config_path = tmp_path / "oms.toml"
    from oms.config import config_to_toml

    config_path.write_text(config_to_toml(s.config))

    # Act
    summary = client.run()
    assert summary["filled"] == 30, summary
    wait_until(lambda: sum(r.trades for r in server.keeper.rows()) == 60)
    live = json.loads(oms("positions", "--json", "--source", "server", "--config",
                          str(config_path), cwd=tmp_path).stdout)
    nav_live = json.loads(oms("nav", "--json", "--source", "server", "--config",
                              str(config_path), cwd=tmp_path).stdout)
    s.stop_oms()

    # Assert: the live positions are the fills' sums, fees those of the schedule
    expected = expected_from_blotter(database_url)
    assert {(p["account"], p["symbol"]) for p in live} == set(expected)
    for p in live:
        sums = expected[(p["account"], p["symbol"])]
        assert Decimal(p["quantity"]) == sums["qty"]
        assert Decimal(p["fees"]) == sums["fees"]
        assert sums["fees"] >= Decimal("2.00")  # two fills, each at least the minimum
    (account,) = nav_live["accounts"]
    assert account["account"] == "ACC1"
    assert Decimal(account["cash"]) == sum((v["cash"] - v["fees"] for v in expected.values()),
                                           Decimal(0))
    # the database holds the same figures, and they are those the fills rebuild
    stored = json.loads(oms("positions", "--json", "--source", "database", "--database-url",
                            database_url, cwd=tmp_path).stdout)
    keys = ("account", "symbol", "quantity", "avg_cost", "realized_pnl", "fees")
    assert [{k: p[k] for k in keys} for p in stored] == [{k: p[k] for k in keys} for p in live]
    verified = oms("positions", "verify", "--database-url", database_url, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "0 differences" in verified.stdout

    # and a restart keeps them
    restarted = s.start_oms()
    again = {(r.account, r.symbol): (r.qty, r.cost, r.realized_pnl, r.fees)
             for r in restarted.keeper.rows()}
    assert again == {(p["account"], p["symbol"]): (
        Decimal(p["quantity"]), Decimal(p["cost"]), Decimal(p["realized_pnl"]),
        Decimal(p["fees"])) for p in live}


def test_a_day_start_loaded_from_a_file_is_where_positions_and_cash_begin(
        stack, database_url: str, tmp_path: Path):
    # Arrange: ACC1 starts the day long 1,000 IBM at 100 with 50,000 of cash
    start = tmp_path / "start.csv"
    start.write_text("account,symbol,qty,avg_cost\nACC1,IBM,1000,100\nACC1,CASH,50000,\n")
    from datetime import UTC, datetime

    today = datetime.now(UTC).date().isoformat()
    s = stack()
    loaded = oms("positions", "load", str(start), "--date", today, "--database-url",
                 database_url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    s.start_broker()
    s.start_oms()
    client = s.client(account="ACC1")

    # Act: sell 400 IBM at the market (the simulator fills at its own price)
    order = client.send_order(symbol="IBM", side="sell", qty=400, ord_type="1")
    wait_until(lambda: client.order(order).status == "2")
    fill_px = Decimal(client.order(order).avg_px)
    s.stop_oms()
    # auto (the default) with --database-url: that database
    found = json.loads(oms("positions", "--json", "--database-url", database_url,
                           cwd=tmp_path).stdout)
    nav = json.loads(oms("nav", "--json", "--source", "database", "--database-url",
                         database_url, cwd=tmp_path).stdout)

    # Assert: 600 left at the start's cost, 400 * (px - 100) realized, the cash received
    (ibm,) = [p for p in found if p["symbol"] == "IBM"]
    assert Decimal(ibm["quantity"]) == 600
    assert Decimal(ibm["avg_cost"]) == 100
    assert Decimal(ibm["realized_pnl"]) == 400 * (fill_px - 100)
    (acc1,) = nav["accounts"]
    assert Decimal(acc1["cash"]) == 50_000 + 400 * fill_px
    assert oms("positions", "verify", "--database-url", database_url,
               cwd=tmp_path).returncode == 0


def test_positions_load_refuses_a_bad_file_naming_its_line(
        database_url: str, tmp_path: Path):
    # Arrange
    bad = tmp_path / "start.csv"
    bad.write_text("ACC1,IBM,1000,100\nACC1,MSFT,ten,300\n")

    # Act
    result = oms("positions", "load", str(bad), "--date", "2026-12-08", "--database-url",
                 database_url, cwd=tmp_path)

    # Assert
    assert result.returncode == 2
    assert f"{bad}:2" in result.stderr and "'ten'" in result.stderr


class MarkedStack(Stack):
    """A stack whose OMS replays a file of trades at start: every symbol marked at 100, the
    price the broker simulator fills market orders at."""

    replay: Path | None = None

    @property
    def config(self):  # type: ignore[no-untyped-def]
        config = super().config
        config.marketdata.replay_file = str(self.replay)
        config.marketdata.replay_speed = 0
        return config


def test_rebalance_trades_an_account_to_its_target_weights_through_the_order_path(
        database_url: str, tmp_path: Path):
    # Arrange: ACC1 starts long 1,000 AAPL at 100 with 100,000 cash: NAV 200,000 at 100
    start = tmp_path / "start.csv"
    start.write_text("ACC1,AAPL,1000,100\nACC1,CASH,100000,\n")
    from datetime import UTC, datetime

    assert oms("positions", "load", str(start), "--date", datetime.now(UTC).date().isoformat(),
               "--database-url", database_url, cwd=tmp_path).returncode == 0
    replay = tmp_path / "ticks.csv"
    replay.write_text("ts,symbol,kind,bid,bid_size,ask,ask_size,px,qty\n" + "".join(
        f"2026-12-08T14:30:00,{s},trade,,,,,100,100\n" for s in ("AAPL", "MSFT", "IBM")))
    targets = tmp_path / "targets.csv"
    targets.write_text("symbol,weight\nAAPL,25%\nMSFT,0.25\nIBM,0.4\n")
    s = MarkedStack(tmp_path, database_url, broker_options={"market_px": Decimal(100)})
    s.replay = replay
    try:
        s.start_broker()
        server = s.start_oms()
        wait_until(lambda: server.book.last_trade("IBM") is not None)
        config_path = tmp_path / "oms.toml"
        from oms.config import config_to_toml

        config_path.write_text(config_to_toml(s.config))

        # Act: first a dry run, then for real
        dry = oms("rebalance", str(targets), "--account", "ACC1", "--dry-run", "--json",
                  "--config", str(config_path), cwd=tmp_path)
        done = oms("rebalance", str(targets), "--account", "ACC1", "--json", "--config",
                   str(config_path), cwd=tmp_path)
        after = json.loads(oms("positions", "--json", "--account", "ACC1", "--config",
                               str(config_path), cwd=tmp_path).stdout)
        nav = json.loads(oms("nav", "--json", "--config", str(config_path),
                             cwd=tmp_path).stdout)
    finally:
        s.stop()

    # Assert: sell 500 AAPL, buy 500 MSFT and 800 IBM (25%, 25%, 40% of 200,000 at 100)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan"]
    assert [(t["side"], t["symbol"], Decimal(t["qty"])) for t in plan["trades"]] == [
        ("sell", "AAPL", 500), ("buy", "IBM", 800), ("buy", "MSFT", 500)]
    assert done.returncode == 0, done.stdout + done.stderr
    orders = json.loads(done.stdout)["orders"]
    assert [o["status"] for o in orders] == ["FILLED"] * 3
    held = {p["symbol"]: p for p in after}
    assert {s: Decimal(p["quantity"]) for s, p in held.items()} == {
        "AAPL": 500, "MSFT": 500, "IBM": 800}
    assert {s: Decimal(p["weight"]) for s, p in held.items()} == {
        "AAPL": Decimal("0.25"), "MSFT": Decimal("0.25"), "IBM": Decimal("0.4")}
    (acc1,) = nav["accounts"]
    assert (Decimal(acc1["cash"]), Decimal(acc1["nav"])) == (20_000, 200_000)


def test_a_day_rolled_from_the_stored_positions_starts_where_the_last_one_ended(
        stack, database_url: str, tmp_path: Path):
    # Arrange: a day that started long 1,000 IBM at 100 with 50,000 and sold 400 at 100
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    start = tmp_path / "start.csv"
    start.write_text("ACC1,IBM,1000,100\nACC1,CASH,50000,\n")
    assert oms("positions", "load", str(start), "--date", today.isoformat(), "--database-url",
               database_url, cwd=tmp_path).returncode == 0
    s = stack(broker_options={"market_px": Decimal(100)})
    s.start_broker()
    s.start_oms()
    client = s.client(account="ACC1")
    order = client.send_order(symbol="IBM", side="sell", qty=400, ord_type="1")
    wait_until(lambda: client.order(order).status == "2")
    s.stop_oms()
    tomorrow = (today + timedelta(days=1)).isoformat()

    # Act
    refused = oms("positions", "roll", "--date", today.isoformat(), "--database-url",
                  database_url, cwd=tmp_path)
    rolled = oms("positions", "roll", "--date", tomorrow, "--database-url", database_url,
                 cwd=tmp_path)

    # Assert: today's fills are booked, so today cannot start again; tomorrow starts with
    # 600 IBM at their cost and the cash after the sale
    assert refused.returncode == 1 and "count them twice" in refused.stderr
    assert rolled.returncode == 0, rolled.stderr
    from oms.store import positions as position_store

    engine = make_engine(database_url)
    try:
        loaded = position_store.load_start(engine, today + timedelta(days=1))
    finally:
        engine.dispose()
    assert loaded.trade_date == tomorrow
    assert loaded.positions == (("ACC1", "IBM", Decimal(600), Decimal(60_000)),)
    assert loaded.cash == (("ACC1", Decimal(90_000)),)


def test_positions_after_a_kill_9_are_those_before_it(stack, tmp_path: Path,
                                                      database_url: str):
    # Arrange: the real `oms serve`, 20 orders filled in two parts each
    s = stack(broker_options={"fill_mode": "partial", "partial_fills": 2})
    s.start_broker()
    process = s.start_oms_process()
    config_path = tmp_path / "oms.toml"
    client = s.client(orders=20, rate=0, window=10, limit_ratio=0.0,
                      sides=["buy", "sell"], account="ACC1")
    assert client.run()["filled"] == 20

    def positions() -> list[dict[str, str]]:
        result = oms("positions", "--json", "--source", "server", "--config",
                     str(config_path), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    before = positions()

    # Act: kill -9, start again
    process.kill()
    process.wait(15)
    s.start_oms_process()
    after = wait_until(lambda: positions() if s.process is not None else None, timeout=30)

    # Assert
    keys = ("account", "symbol", "quantity", "cost", "realized_pnl", "fees", "trades")
    assert [{k: p[k] for k in keys} for p in after] == [{k: p[k] for k in keys}
                                                        for p in before]
    assert sum(p["trades"] for p in after) == 40
