"""Every read command's ``--json``, through the real `oms` command against a real server:
FIX codes come with their names, and `oms sessions` says where each session is and how far
its sequence numbers went."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oms.config import config_to_toml
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow


def oms(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True, text=True,
                          timeout=120)


def test_read_commands_give_json_with_fix_codes_named(tmp_path: Path):
    # Arrange: a server that has filled one order
    database_url = f"sqlite:///{tmp_path / 'oms.db'}"
    stack = Stack(tmp_path, database_url)
    try:
        stack.start_broker()
        stack.start_oms()
        config_path = tmp_path / "oms.toml"
        config_path.write_text(config_to_toml(stack.config))
        client = stack.client()
        cl_ord_id = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
        wait_until(lambda: client.order(cl_ord_id).status == "2")
        order_id = client.order(cl_ord_id).order_id

        # Act
        sessions = oms("sessions", "--json", "--config", str(config_path))
        table = oms("sessions", "--config", str(config_path))
        stats = oms("stats", "--json", "--config", str(config_path))
        listed = oms("orders", "list", "--status", "all", "--json",
                     "--database-url", database_url)
        shown = oms("orders", "show", order_id, "--json", "--database-url", database_url)

        # Assert: sessions
        assert sessions.returncode == 0, sessions.stderr
        by_key = {row["session"]: row for row in json.loads(sessions.stdout)}
        broker, upstream = by_key["FIX.4.4:OMS->BROKER1"], by_key["FIX.4.4:OMS->CLIENT1"]
        assert broker["role"] == "broker" and upstream["role"] == "upstream"
        assert broker["address"] == f"127.0.0.1:{stack.broker_port}"
        assert upstream["address"].endswith(f":{stack.upstream_port}")
        assert broker["logged_on"] is True and upstream["logged_on"] is True
        # the broker session sent a Logon and a NewOrderSingle, received a Logon, an ack
        # and a fill
        assert broker["next_sender_seq_num"] >= 3 and broker["next_target_seq_num"] >= 4
        assert broker["last_received"] is not None and broker["last_error"] is None
        assert table.returncode == 0, table.stderr
        assert f"127.0.0.1:{stack.broker_port}" in table.stdout and "OMS->BROKER1" in table.stdout
        assert stats.returncode == 0 and json.loads(stats.stdout)["orders"] == 1
        # orders
        assert listed.returncode == 0, listed.stderr
        [row] = json.loads(listed.stdout)
        assert (row["side"], row["side_name"]) == ("1", "Buy")
        assert (row["status"], row["status_name"]) == ("2", "Filled")
        assert (row["ord_type"], row["ord_type_name"]) == ("1", "Market")
        assert (row["time_in_force"], row["time_in_force_name"]) == ("0", "Day")
        assert shown.returncode == 0, shown.stderr
        document = json.loads(shown.stdout)
        assert document["order"]["side_name"] == "Buy"
        names = {(e["exec_type_name"], e["ord_status_name"]) for e in document["executions"]}
        assert ("Trade", "Filled") in names
    finally:
        stack.stop()
