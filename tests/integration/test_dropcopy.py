"""#19: a broker's drop copy over real sessions: the OMS, the broker simulator with a
drop-copy session and breaks injected, a client, a real database and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms.bootstrap import OmsServer
from oms.config import OmsConfig
from oms.store import make_engine
from oms.store.dropcopy import list_breaks
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow

DROP_KEY = "FIX.4.4:OMSDC->BROKER1"
GRACE = 1.5


def oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True,
                          text=True, timeout=60)


def with_drop_copy(stack: Stack, **copy: Any) -> OmsConfig:
    data = stack.config.model_dump()
    data["drop_copies"] = [{"name": "SIMDC", "broker": "SIM", "sender_comp_id": "OMSDC",
                            "target_comp_id": "BROKER1", "host": "127.0.0.1",
                            "port": stack.broker_port, "reconnect_interval": 1,
                            "grace_seconds": GRACE, **copy}]
    return OmsConfig(**data, base_dir=stack.folder)


def breaks_in(database_url: str) -> list[dict[str, Any]]:
    engine = make_engine(database_url)
    try:
        return list_breaks(engine, include_acked=True)
    finally:
        engine.dispose()


def test_every_injected_break_is_found_once_and_the_cli_lists_and_settles_them(
        tmp_path: Path, database_url: str) -> None:
    # Arrange: a broker that copies every fill to the OMS's drop-copy session, but leaves
    # out every 4th copy, alters the first, sends the second twice and copies two fills of
    # an order the OMS never sent
    stack = Stack(tmp_path, database_url, broker_options={
        "dropcopy_target_comp_ids": ["OMSDC"], "dropcopy_skip": 4, "dropcopy_extra": 2,
        "dropcopy_alter": True, "dropcopy_duplicate": True})
    try:
        broker = stack.start_broker()
        server = stack.server = OmsServer(with_drop_copy(stack))
        server.start()
        assert server.application is not None
        wait_until(lambda: server.application.is_logged_on("FIX.4.4:OMS->BROKER1")
                   and server.application.is_logged_on(DROP_KEY))
        client = stack.client()

        # Act: ten orders, each filled at once
        sent = [client.send_order(symbol="IBM", side="buy", qty=100 + n, ord_type="1")
                for n in range(10)]
        assert client.wait_for(lambda: all(client.order(c).status == "2" for c in sent), 20)
        wait_until(lambda: len(breaks_in(database_url)) >= 6, timeout=20)
        time.sleep(2 * GRACE + 0.5)  # nothing more comes after the grace periods

        # Assert: each injected break once, nothing else
        found = breaks_in(database_url)
        assert sorted(b["kind"] for b in found) == [
            "duplicate", "external", "external", "missing", "missing", "qty"]
        counters = broker.counters
        assert (counters.fills_sent, counters.dropcopies_skipped,
                counters.dropcopy_extras_sent) == (10, 2, 2)
        by_kind = {b["kind"]: b for b in found}
        assert by_kind["qty"]["qty"] == Decimal(101) and "ours 100" in by_kind["qty"]["detail"]
        assert by_kind["external"]["symbol"] == "XTRA" and by_kind["external"]["order_id"] == ""
        assert by_kind["missing"]["order_id"] and by_kind["missing"]["session"] == ""
        states = {s["session"]: s for s in server.session_states()}
        assert (states[DROP_KEY]["role"], states[DROP_KEY]["name"],
                states[DROP_KEY]["broker"]) == ("drop_copy", "SIMDC", "SIM")
        assert server.readiness()["ok"]
    finally:
        stack.stop()

    # the real CLI, on the database the server left
    listed = oms("dropcopy", "breaks", "--json", "--database-url", database_url)
    assert listed.returncode == 1, listed.stderr
    document = json.loads(listed.stdout)
    assert document["unacknowledged"] == 6 and len(document["breaks"]) == 6
    first = document["breaks"][0]
    assert first["side_name"] in ("Buy", "")
    acked = oms("dropcopy", "ack", str(first["id"]), "--comment", "booked by the desk",
                "--database-url", database_url)
    assert acked.returncode == 0, acked.stderr
    again = oms("dropcopy", "ack", str(first["id"]), "--comment", "twice",
                "--database-url", database_url)
    assert again.returncode != 0 and "acknowledged already" in again.stderr
    unknown = oms("dropcopy", "ack", "999999", "--comment", "x", "--database-url", database_url)
    assert unknown.returncode != 0 and "no drop-copy break 999999" in unknown.stderr
    left = json.loads(oms("dropcopy", "breaks", "--json", "--database-url",
                          database_url).stdout)
    assert left["unacknowledged"] == 5 and first["id"] not in [b["id"] for b in left["breaks"]]
    every = json.loads(oms("dropcopy", "breaks", "--all", "--json", "--database-url",
                           database_url).stdout)
    settled = [b for b in every["breaks"] if b["id"] == first["id"]]
    assert settled[0]["ack_comment"] == "booked by the desk" and settled[0]["acked_at"]


def test_a_clean_drop_copy_flags_nothing_and_breaks_exits_0(tmp_path: Path,
                                                             database_url: str) -> None:
    stack = Stack(tmp_path, database_url, broker_options={
        "dropcopy_target_comp_ids": ["OMSDC"], "fill_mode": "partial", "partial_fills": 2})
    try:
        broker = stack.start_broker()
        server = stack.server = OmsServer(with_drop_copy(stack))
        server.start()
        assert server.application is not None
        wait_until(lambda: server.application.is_logged_on(DROP_KEY))
        client = stack.client()
        sent = [client.send_order(symbol="MSFT", side="sell", qty=50, ord_type="1")
                for _ in range(5)]
        assert client.wait_for(lambda: all(client.order(c).status == "2" for c in sent), 20)
        wait_until(lambda: broker.counters.dropcopies_sent == 10)
        time.sleep(2 * GRACE + 0.5)
    finally:
        stack.stop()

    assert breaks_in(database_url) == []
    listed = oms("dropcopy", "breaks", "--database-url", database_url)
    assert listed.returncode == 0, listed.stderr


def test_breaks_on_a_missing_database_exit_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = oms("dropcopy", "breaks", "--database-url", f"sqlite:///{missing}")
    assert result.returncode == 2 and "nowhere.db" in result.stderr
    assert not missing.exists()
