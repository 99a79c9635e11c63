"""The real `oms` command, run as a subprocess, against real databases and a real server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from oms.config import config_to_toml
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow


def oms(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def test_demo_failover_moves_new_orders_to_the_backup_and_completes_them(tmp_path: Path):
    # Act: #19, the primary gateway drops its connection a third of the way through
    result = oms("demo", "--orders", "300", "--dir", str(tmp_path / "demo"), "--rate", "60",
                 "--quiet", "--failover")

    # Assert
    assert result.returncode == 0, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert "demo complete" in said
    runs = re.findall(r"(\d+) on the (primary|backup)", said)
    # new flow went to the backup while the primary was away, and came back to it
    assert [where for _, where in runs] == ["primary", "backup", "primary"], said
    assert sum(int(n) for n, _ in runs) == 300
    assert "dropped its connection after 100 orders" in said
    # #20: the OMS reads the demo's market, both gateways fill at its prices
    quoted = re.search(r"market data: (\d+) of (\d+) orders had an arrival quote", said)
    assert quoted and int(quoted.group(2)) == 300 and int(quoted.group(1)) > 0, said


def test_demo_completes_its_orders_and_the_blotter_shows_them(tmp_path: Path):
    # Arrange
    folder = tmp_path / "demo"

    # Act
    result = oms("demo", "--orders", "40", "--dir", str(folder), "--rate", "100", "--quiet")

    # Assert
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo complete" in result.stdout
    said = " ".join(result.stdout.split())
    assert "market data: 40 of 40 orders had an arrival quote" in said, said
    listed = oms("orders", "list", "--status", "all", "--json",
                 "--database-url", f"sqlite:///{folder / 'oms.db'}")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 40
    assert all(row["status"] in {"2", "4", "8"} for row in rows)
    filled = [row for row in rows if row["status"] == "2"]
    assert filled and all(Decimal(r["cum_qty"]) == Decimal(r["order_qty"]) for r in filled)
    shown = oms("orders", "show", filled[0]["order_id"], "--json",
                "--database-url", f"sqlite:///{folder / 'oms.db'}")
    detail = json.loads(shown.stdout)
    fills = [e for e in detail["executions"] if e["exec_type"] == "F"]
    assert sum(Decimal(f["last_qty"]) for f in fills) == Decimal(filled[0]["cum_qty"])
    assert any(e["kind"] == "in" and e["msg_type"] == "D" for e in detail["events"])


def test_db_upgrade_is_idempotent_on_both_databases(database_url: str):
    # Act
    first = oms("db", "upgrade", "--database-url", database_url)
    second = oms("db", "upgrade", "--database-url", database_url)

    # Assert
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "revision" in second.stdout


@pytest.mark.parametrize("args, message", [
    (["orders", "show", "NOPE"], "no order NOPE"),
    (["orders", "list", "--status", "weird"], "Invalid value"),
    (["serve", "--config", "/nonexistent/oms.toml"], "config file not found"),
    (["orders", "cancel", "O1", "--config", "/nonexistent/oms.toml"], "config file not found"),
])
def test_bad_input_exits_non_zero_with_a_sentence(tmp_path: Path, args, message):
    # Arrange: read commands need a migrated database (#18)
    database = ["--database-url", f"sqlite:///{tmp_path / 'x.db'}"]
    if args[:2] == ["orders", "show"]:
        assert oms("db", "upgrade", *database).returncode == 0

    # Act
    result = oms(*args, *database) if args[:2] == ["orders", "show"] else oms(*args)

    # Assert
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_an_invalid_config_is_refused_with_the_reason(tmp_path: Path):
    # Arrange
    config = tmp_path / "bad.toml"
    config.write_text('[routing]\ndefault_route = "NOBODY"\n')

    # Act
    result = oms("serve", "--config", str(config))

    # Assert
    assert result.returncode == 2
    assert "NOBODY" in result.stderr


def test_operator_cancel_goes_through_the_admin_interface(tmp_path: Path):
    # Arrange: a server with a live order at a broker that never fills
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}",
                  broker_options={"fill_mode": "none"})
    try:
        stack.start_broker()
        server = stack.start_oms()
        config_path = tmp_path / "oms.toml"
        config_path.write_text(config_to_toml(stack.config))
        client = stack.client()
        cl_ord_id = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
        wait_until(lambda: client.order(cl_ord_id).status == "0")
        order_id = client.order(cl_ord_id).order_id

        # Act
        result = oms("orders", "cancel", order_id, "--config", str(config_path))
        again = oms("orders", "cancel", "NO-SUCH-ORDER", "--config", str(config_path))
        sessions = oms("sessions", "--config", str(config_path))

        # Assert
        assert result.returncode == 0, result.stderr
        wait_until(lambda: client.order(cl_ord_id).status == "4")
        canceled = [r for r in client.order(cl_ord_id).reports if r.exec_type == "4"]
        assert canceled and canceled[0].orig_cl_ord_id is None  # unsolicited for the client
        assert again.returncode != 0 and "unknown order NO-SUCH-ORDER" in again.stderr
        assert sessions.returncode == 0 and "OMS->BROKER1" in sessions.stdout
        assert server.admin is not None
    finally:
        stack.stop()


def test_stats_shows_a_running_servers_counters_and_latency_and_resets_its_samples(
        tmp_path: Path):
    # Arrange: a server that has filled three orders
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        stack.start_broker()
        stack.start_oms()
        config_path = tmp_path / "oms.toml"
        config_path.write_text(config_to_toml(stack.config))
        client = stack.client()
        ids = [client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
               for _ in range(3)]
        wait_until(lambda: all(client.order(i).status == "2" for i in ids))

        # Act
        before = oms("stats", "--json", "--config", str(config_path))
        table = oms("stats", "--config", str(config_path))
        reset = oms("stats", "--reset", "--json", "--config", str(config_path))

        # Assert
        assert before.returncode == 0, before.stderr
        document = json.loads(before.stdout)
        assert document["orders"] == 3
        assert document["internal_latency_us"]["count"] == 3
        assert document["commits"] >= 1 and document["commit_cpu_s"] > 0
        assert 0 < document["commit_cpu_s"] < document["process_cpu_s"]
        assert "count" in document["gc_pause_us"]
        assert table.returncode == 0, table.stderr
        assert all(f"│ {series}" in table.stdout for series in ("internal", "queue wait", "commit"))
        assert "process_cpu_s" in table.stdout
        assert reset.returncode == 0, reset.stderr
        after = json.loads(reset.stdout)
        assert after["internal_latency_us"] == {"count": 0}  # new samples
        assert after["orders"] == 3  # counters keep counting
    finally:
        stack.stop()


def test_oms_serve_collects_garbage_only_once_its_orders_stop(tmp_path: Path):
    # Arrange: the real `oms serve` (its garbage-collector policy is the command's) with
    # three orders filled
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        stack.start_broker()
        stack.start_oms_process()
        config_path = tmp_path / "oms.toml"
        client = stack.client()
        wait_until(lambda: stack.broker is not None and stack.broker.logged_on(), timeout=20)
        ids = [client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
               for _ in range(3)]
        wait_until(lambda: all(client.order(i).status == "2" for i in ids))

        def gc_counters() -> dict[str, int]:
            done = oms("stats", "--json", "--config", str(config_path))
            assert done.returncode == 0, done.stderr
            return {k: v for k, v in json.loads(done.stdout).items() if k.startswith("gc_")}

        # Act: right after the fills, then once the OMS has been idle for a while
        busy = gc_counters()
        wait_until(lambda: gc_counters()["gc_idle_collections"] > busy["gc_idle_collections"],
                   timeout=15)
        idle = gc_counters()

        # Assert: a collection (timed) once idle; nothing frozen unwalked at this load
        assert idle["gc_pause_us"]["count"] > busy["gc_pause_us"]["count"]
        assert idle["gc_freezes_under_load"] == 0 and idle["gc_deep_collections"] == 0
        table = oms("stats", "--config", str(config_path))
        assert table.returncode == 0 and "gc_idle_collections" in table.stdout
    finally:
        stack.stop()


def test_stats_without_a_running_server_says_so(tmp_path: Path):
    # Arrange
    config_path = tmp_path / "oms.toml"
    config_path.write_text(f'[oms]\nsessions_dir = "{tmp_path / "sessions"}"\n')

    # Act
    result = oms("stats", "--config", str(config_path))

    # Assert
    assert result.returncode != 0
    assert "no running server found" in result.stderr


def test_admin_interface_refuses_a_wrong_token(tmp_path: Path):
    # Arrange
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        stack.start_broker()
        server = stack.start_oms()
        token_path = stack.config.admin_token_path
        info = json.loads(token_path.read_text())
        forged = tmp_path / "forged.token"
        forged.write_text(json.dumps({**info, "token": "wrong"}))

        # Act / Assert
        from oms.admin import AdminError, call

        with pytest.raises(AdminError, match="wrong admin token"):
            call(forged, "GET", "/sessions")
        assert call(token_path, "GET", "/health") == {"ok": True, "core": "running"}
        assert oct(token_path.stat().st_mode & 0o777) == "0o600"
        assert server.admin is not None
    finally:
        stack.stop()
