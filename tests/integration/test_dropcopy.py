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
    data["drop_copies"][0] = {key: value for key, value in data["drop_copies"][0].items()
                              if value is not None}
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


def test_copies_resent_after_a_restart_find_the_fills_booked_before_it(
        tmp_path: Path, database_url: str) -> None:
    # Arrange: the drop copy is logged out (by the operator) while five orders fill, so
    # the broker keeps their copies for its resend; then the OMS restarts
    stack = Stack(tmp_path, database_url, broker_options={
        "dropcopy_target_comp_ids": ["OMSDC"], "reset_on_logon": False})
    config = with_drop_copy(stack)
    try:
        broker = stack.start_broker()
        server = stack.server = OmsServer(config)
        server.start()
        app = server.application
        assert app is not None
        wait_until(lambda: app.is_logged_on("FIX.4.4:OMS->BROKER1")
                   and app.is_logged_on(DROP_KEY))
        assert server.session_action("SIMDC", "logout")[0] == 200
        wait_until(lambda: not app.is_logged_on(DROP_KEY))
        client = stack.client()
        sent = [client.send_order(symbol="MSFT", side="sell", qty=50, ord_type="1")
                for _ in range(5)]
        assert client.wait_for(lambda: all(client.order(c).status == "2" for c in sent), 20)
        wait_until(lambda: broker.counters.dropcopies_sent == 5)
        for c in stack.clients:
            c.stop()
        stack.clients.clear()
        server.stop()

        # Act: a new server; its drop copy logs on and the broker resends the five copies
        server = stack.server = OmsServer(config)
        server.start()
        again = server.application
        assert again is not None
        wait_until(lambda: again.is_logged_on(DROP_KEY))
        time.sleep(2 * GRACE + 0.5)
    finally:
        stack.stop()

    # Assert: every copy found its fill from before the restart
    assert breaks_in(database_url) == []
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            copies = connection.exec_driver_sql(
                "select count(*) from drop_copies where exec_type = 'F'").scalar()
    finally:
        engine.dispose()
    assert copies == 5


def test_breaks_on_a_missing_database_exit_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = oms("dropcopy", "breaks", "--database-url", f"sqlite:///{missing}")
    assert result.returncode == 2 and "nowhere.db" in result.stderr
    assert not missing.exists()


def test_a_raw_drop_copy_peer_of_nobodys_making_is_matched_and_refused_what_is_not_a_report(
        tmp_path: Path, sqlite_database_url: str) -> None:
    # Arrange: the broker connects its drop copy to us (role acceptor): a raw simplefix
    # initiator sharing no code with the OMS or the simulator
    from oms.localproc import free_port
    from tests.acceptance.fixscript import RawFixClient

    database_url = sqlite_database_url
    port = free_port()
    stack = Stack(tmp_path, database_url)
    peer = None
    try:
        broker = stack.start_broker()
        server = stack.server = OmsServer(with_drop_copy(
            stack, role="acceptor", sender_comp_id="OMS", target_comp_id="BRKDC", port=port,
            host=None, reconnect_interval=None))
        server.start()
        assert server.application is not None
        wait_until(lambda: server.application.is_logged_on("FIX.4.4:OMS->BROKER1"))
        client = stack.client()
        order = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
        assert client.wait_for(lambda: client.order(order).status == "2", 20)
        [(broker_order_id, placed)] = broker.book()["orders"].items()
        [(exec_id, qty, px)] = placed["fills"]
        peer = RawFixClient("127.0.0.1", port, "BRKDC", "OMS")
        assert peer.logon()["35"] == "A"

        def report(exec_id: str, symbol: str, qty: str, *more: tuple[str, str]) -> None:
            assert peer is not None
            peer.send([("35", "8"), *more, ("37", broker_order_id), ("17", exec_id),
                       ("150", "F"), ("39", "2"), ("55", symbol), ("54", "1"),
                       ("151", "0"), ("14", qty), ("6", str(px)), ("32", qty),
                       ("31", str(px)), ("60", "<TIME>"), ("797", "Y")])

        # Act: the copy of our fill, the same again as a resend (PossDupFlag), a fill we
        # never made, and an OrderCancelReject, which a drop copy never carries
        report(exec_id, "IBM", str(qty))
        report(exec_id, "IBM", str(qty), ("43", "Y"), ("122", "<TIME>"))
        report("PHONE-1", "ZZZ", "5")
        peer.send([("35", "9"), ("37", "X"), ("11", "K"), ("41", "K0"), ("39", "0"),
                   ("434", "1")])
        refused = peer.receive_application()
        wait_until(lambda: breaks_in(database_url), timeout=10)
        time.sleep(2 * GRACE + 0.5)

        # Assert
        assert refused["35"] == "j"
        found = breaks_in(database_url)
        assert [(b["kind"], b["broker_exec_id"], b["session"]) for b in found] == [
            ("external", "PHONE-1", "FIX.4.4:OMS->BRKDC")]
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                stored = connection.exec_driver_sql(
                    "SELECT broker_exec_id, raw FROM drop_copies ORDER BY id").all()
        finally:
            engine.dispose()
        assert [row[0] for row in stored] == [exec_id, exec_id, "PHONE-1"]
        assert "|43=Y|" in stored[1][1]
    finally:
        if peer is not None:
            peer.logout()
        stack.stop()
