"""#19: a broker with two sessions. New orders go to the primary; while it is down, to the
backup; when it is back, to the primary again. Real QuickFIX sessions on loopback: an
upstream client, the OMS, and two broker simulators (the broker's primary and backup
gateways), counted three ways at the end: the client, the blotter, the brokers."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import simplefix

from oms.bootstrap import OmsServer
from oms.config import OmsConfig
from oms.localproc import free_port
from oms.sim.broker import BrokerSimOptions, BrokerSimulator
from oms.sim.client import ClientOptions, UpstreamClient
from oms.store import repository
from oms.store.db import make_engine
from tests.acceptance.fixscript import RawFixBroker
from tests.integration.stack import Stack, wait_until

PRIMARY, BACKUP = "FIX.4.4:OMS->GSFIX", "FIX.4.4:OMS2->GSFIX2"
SIM = "FIX.4.4:OMS->BROKER1"


def gateway(folder: Path, port: int, comp_id: str, ours: str) -> BrokerSimulator:
    broker = BrokerSimulator(BrokerSimOptions(
        sessions_dir=folder, port=port, sender_comp_id=comp_id, target_comp_ids=[ours],
        fill_interval=0.0, seed=7, reset_on_logon=False))
    broker.start()
    return broker


def test_new_orders_fail_over_to_the_backup_session_and_come_back_to_the_primary(
        tmp_path: Path, database_url: str) -> None:
    # Arrange
    upstream_port, primary_port, backup_port = free_port(), free_port(), free_port()
    config = OmsConfig(
        oms={"database_url": database_url, "sessions_dir": str(tmp_path / "oms-sessions"),
             "log_level": "WARNING"},
        fix={"heartbeat_interval": 5}, admin={"port": 0},
        upstream=[{"target_comp_id": "CLIENT1", "port": upstream_port}],
        brokers=[{"name": "GS", "sessions": [
            {"target_comp_id": "GSFIX", "port": primary_port, "reconnect_interval": 1},
            {"sender_comp_id": "OMS2", "target_comp_id": "GSFIX2", "port": backup_port,
             "reconnect_interval": 1}]}],
        routing={"default_route": "GS"}, base_dir=tmp_path)
    primary = gateway(tmp_path / "primary", primary_port, "GSFIX", "OMS")
    backup = gateway(tmp_path / "backup", backup_port, "GSFIX2", "OMS2")
    server = OmsServer(config)
    client = None
    brokers_seen: list[dict] = []
    try:
        server.start()
        app = server.application
        assert app is not None
        wait_until(lambda: app.is_logged_on(PRIMARY) and app.is_logged_on(BACKUP))
        client = UpstreamClient(ClientOptions(
            sessions_dir=tmp_path / "client", port=upstream_port, sender_comp_id="CLIENT1",
            target_comp_id="OMS", heartbeat_interval=5, seed=11, timeout=20))
        client.start()
        assert client.wait_logged_on(15)

        def send(count: int, symbol: str) -> list[str]:
            sent = [client.send_order(symbol=symbol, side="buy", qty=100, ord_type="1")
                    for _ in range(count)]
            assert client.wait_for(lambda: all(client.order(c).status == "2" for c in sent), 15)
            return sent

        # Act
        before = send(5, "BEFORE")
        primary.stop()
        wait_until(lambda: not app.is_logged_on(PRIMARY))
        during = send(5, "DURING")
        primary = gateway(tmp_path / "primary", primary_port, "GSFIX", "OMS")
        wait_until(lambda: app.is_logged_on(PRIMARY), timeout=20)
        after = send(5, "AFTER")
    finally:
        if client is not None:
            client.stop()
        server.stop()
        for broker in (primary, backup):
            brokers_seen.append(broker.book())
            broker.stop()

    # Assert: the client saw every order filled (above); the blotter and the brokers agree
    engine = make_engine(database_url)
    try:
        rows = {row["cl_ord_id"]: repository.get_order(engine, row["order_id"])
                for row in repository.list_orders(engine, status="all")}
    finally:
        engine.dispose()
    assert sorted(rows) == sorted(before + during + after)
    sessions = {cl: (r["order"]["status"], tuple(c["session"] for c in r["children"]))
                for cl, r in rows.items()}
    assert {sessions[c] for c in before + after} == {("2", (PRIMARY,))}
    assert {sessions[c] for c in during} == {("2", (BACKUP,))}
    primary_book, backup_book = brokers_seen
    child_ids = {cl: r["children"][0]["cl_ord_id"] for cl, r in rows.items()}
    # the restarted primary keeps no book of before: it saw the five after it
    assert set(primary_book["children"]) == {child_ids[c] for c in after}
    assert set(backup_book["children"]) == {child_ids[c] for c in during}
    # none sent twice, to either
    arrivals = Counter()
    for book in brokers_seen:
        for child, kinds in book["children"].items():
            arrivals[child] += kinds.get("D", 0)
    assert set(arrivals.values()) == {1}


def test_a_silent_primary_takes_no_new_orders_until_it_answers_our_testrequest(
        tmp_path: Path) -> None:
    # Arrange: the primary gateway is a raw FIX acceptor that says nothing after its Logon
    upstream_port, primary_port, backup_port = free_port(), free_port(), free_port()
    config = OmsConfig(
        oms={"database_url": f"sqlite:///{tmp_path / 'oms.db'}",
             "sessions_dir": str(tmp_path / "oms-sessions"), "log_level": "WARNING"},
        fix={"heartbeat_interval": 3}, admin={"port": 0},
        upstream=[{"target_comp_id": "CLIENT1", "port": upstream_port}],
        brokers=[{"name": "GS", "sessions": [
            {"target_comp_id": "GSFIX", "port": primary_port, "reconnect_interval": 1},
            {"sender_comp_id": "OMS2", "target_comp_id": "GSFIX2", "port": backup_port,
             "reconnect_interval": 1}]}],
        routing={"default_route": "GS"}, base_dir=tmp_path)
    primary = RawFixBroker(primary_port, "GSFIX", "OMS", timeout=15)
    backup = gateway(tmp_path / "backup", backup_port, "GSFIX2", "OMS2")
    server = OmsServer(config)
    client = None
    try:
        server.start()
        primary.accept_logon()
        app = server.application
        assert app is not None
        wait_until(lambda: app.is_logged_on(PRIMARY) and app.is_logged_on(BACKUP))
        client = UpstreamClient(ClientOptions(
            sessions_dir=tmp_path / "client", port=upstream_port, sender_comp_id="CLIENT1",
            target_comp_id="OMS", heartbeat_interval=3, seed=11, timeout=20))
        client.start()
        assert client.wait_logged_on(15)

        # Act: silence for more than a heartbeat interval; QuickFIX sends a TestRequest
        wait_until(lambda: PRIMARY in app.unanswered, timeout=10)
        silent = client.send_order(symbol="SILENT", side="buy", qty=100, ord_type="1")
        assert client.wait_for(lambda: client.order(silent).status == "2", 10)
        test_request = primary.receive()
        while test_request["35"] != "1":
            test_request = primary.receive()
        primary.send([("35", "0"), ("112", test_request["112"])])
        wait_until(lambda: PRIMARY not in app.unanswered)
        again = client.send_order(symbol="AGAIN", side="buy", qty=100, ord_type="1")
        new_order = primary.receive_application()
    finally:
        if client is not None:
            client.stop()
        server.stop()
        backup.stop()
        primary.close()

    # Assert
    routed = {row["cl_ord_id"]: row["session"] for row in sessions_of(server.database_url)}
    assert routed[silent] == BACKUP
    assert routed[again] == PRIMARY
    assert new_order["35"] == "D" and new_order["55"] == "AGAIN"


def sessions_of(database_url: str) -> list[dict[str, str]]:
    engine = make_engine(database_url)
    try:
        return [{"cl_ord_id": row["cl_ord_id"],
                 "session": repository.get_order(engine, row["order_id"])["children"][0]["session"]}
                for row in repository.list_orders(engine, status="all")]
    finally:
        engine.dispose()


def test_a_cancel_for_an_order_whose_session_is_down_goes_via_the_backup_or_waits(
        tmp_path: Path) -> None:
    # Arrange: one broker gateway with one book for all sessions; broker GS sends cancels
    # through its backup session, broker MS holds them until the order's session is back
    upstream_port, port = free_port(), free_port()
    sessions = [{"sender_comp_id": ours, "target_comp_id": "GW", "port": port,
                 "reconnect_interval": 1} for ours in ("OMS", "OMS2", "OMS3", "OMS4")]
    config = OmsConfig(
        oms={"database_url": f"sqlite:///{tmp_path / 'oms.db'}",
             "sessions_dir": str(tmp_path / "oms-sessions"), "log_level": "WARNING"},
        fix={"heartbeat_interval": 5}, admin={"port": 0},
        upstream=[{"target_comp_id": "CLIENT1", "port": upstream_port}],
        brokers=[{"name": "GS", "sessions": sessions[:2], "cancel_via_backup": True},
                 {"name": "MS", "sessions": sessions[2:]}],
        routing={"default_route": "GS", "rules": [{"symbol": "MS*", "broker": "MS"}]},
        base_dir=tmp_path)
    gw = BrokerSimulator(BrokerSimOptions(
        sessions_dir=tmp_path / "gw", port=port, sender_comp_id="GW",
        target_comp_ids=["OMS", "OMS2", "OMS3", "OMS4"], fill_mode="none", seed=7,
        reset_on_logon=False, shared_book=True))
    gw.start()
    server = OmsServer(config)
    client = None
    keys = [f"FIX.4.4:{s['sender_comp_id']}->GW" for s in sessions]
    try:
        server.start()
        app = server.application
        assert app is not None
        wait_until(lambda: all(app.is_logged_on(key) for key in keys))
        client = UpstreamClient(ClientOptions(
            sessions_dir=tmp_path / "client", port=upstream_port, sender_comp_id="CLIENT1",
            target_comp_id="OMS", heartbeat_interval=5, seed=11, timeout=20))
        client.start()
        assert client.wait_logged_on(15)
        gs = client.send_order(symbol="GSX", side="buy", qty=100, ord_type="2",
                               price=Decimal("10"))
        ms = client.send_order(symbol="MSX", side="buy", qty=100, ord_type="2",
                               price=Decimal("10"))
        assert client.wait_for(lambda: client.order(gs).status == client.order(ms).status
                               == "0", 10)
        for name in ("GS-1", "MS-1"):
            assert server.session_action(name, "logout")[0] == 200
        wait_until(lambda: not app.is_logged_on(keys[0]) and not app.is_logged_on(keys[2]))

        # Act
        client.cancel(gs)
        client.cancel(ms)
        via_backup = client.wait_for(lambda: client.order(gs).status == "4", 10)
        held = client.wait_for(lambda: client.order(ms).status == "6", 10)
        cancels_before_logon = gw.counters.cancels_received
        assert server.session_action("MS-1", "logon")[0] == 200
        after_logon = client.wait_for(lambda: client.order(ms).status == "4", 15)
    finally:
        if client is not None:
            client.stop()
        server.stop()
        gw.stop()

    # Assert
    assert via_backup, client.order(gs)
    assert held and cancels_before_logon == 1  # GS's only: MS's waited
    assert after_logon, client.order(ms)


@pytest.mark.parametrize("reset", [False, True], ids=["resend", "sequence reset"])
def test_a_gateway_dying_mid_flow_loses_nothing_and_sends_nothing_twice(
        tmp_path: Path, database_url: str, reset: bool) -> None:
    # Arrange: one broker, one book, two gateways (sessions): the primary's connection is
    # dropped mid-flow and its logons refused for two seconds, while the client streams
    # orders with cancels and replaces; fills come in three parts, 50 ms apart. What the
    # broker sent meanwhile comes back by the session's resend, or (sequence numbers reset
    # at logon: no resend) by the OMS's status queries
    upstream_port, port = free_port(), free_port()
    config = OmsConfig(
        oms={"database_url": database_url, "sessions_dir": str(tmp_path / "oms-sessions"),
             "log_level": "WARNING"},
        fix={"heartbeat_interval": 5}, admin={"port": 0},
        upstream=[{"target_comp_id": "CLIENT1", "port": upstream_port}],
        brokers=[{"name": "GS", "hold_seconds": 20, "sessions": [
            {"sender_comp_id": ours, "target_comp_id": "GW", "port": port,
             "reconnect_interval": 1, "reset_on_logon": reset} for ours in ("OMS", "OMS2")]}],
        routing={"default_route": "GS"}, base_dir=tmp_path)
    gw = BrokerSimulator(BrokerSimOptions(
        sessions_dir=tmp_path / "gw", port=port, sender_comp_id="GW",
        target_comp_ids=["OMS", "OMS2"], fill_mode="partial", partial_fills=3,
        fill_interval=0.05, seed=7, reset_on_logon=reset, shared_book=True,
        refuse_logons_for=2.0))
    gw.start()
    server = OmsServer(config)
    client = None
    primary, backup = "FIX.4.4:OMS->GW", "FIX.4.4:OMS2->GW"
    try:
        server.start()
        app = server.application
        assert app is not None
        wait_until(lambda: app.is_logged_on(primary) and app.is_logged_on(backup))
        client = UpstreamClient(ClientOptions(
            sessions_dir=tmp_path / "client", port=upstream_port, sender_comp_id="CLIENT1",
            target_comp_id="OMS", heartbeat_interval=5, seed=11, timeout=60, orders=400,
            rate=100, window=0, cancel_ratio=0.3, replace_ratio=0.1, limit_ratio=1.0))
        client.start()
        assert client.wait_logged_on(15)
        outcome: dict[str, object] = {}
        flow = threading.Thread(target=lambda: outcome.update(client.run()))

        # Act
        flow.start()
        wait_until(lambda: gw.counters.orders_received >= 100)
        dropped = gw.application.drop_connections(["FIX.4.4:GW->OMS"])
        flow.join(90)
        assert not flow.is_alive()
        # once the primary is back, new orders go to it again
        wait_until(lambda: app.is_logged_on(primary), timeout=30)
        back = [client.send_order(symbol="BACK", side="buy", qty=100, ord_type="1")
                for _ in range(5)]
        assert client.wait_for(lambda: all(client.order(c).is_done for c in back), 20)
        book = gw.book()
    finally:
        if client is not None:
            client.stop()
        server.stop()
        gw.stop()

    # Assert: the client's view
    assert dropped == ["FIX.4.4:GW->OMS"]
    stuck = [o for o in client._orders.values() if not o.is_done]  # noqa: SLF001
    assert outcome["done"] == outcome["sent"] == 400, (outcome, stuck, _journal_of(
        database_url, [o.cl_ord_id for o in stuck]))
    assert outcome.get("protocol_errors", 0) == 0, outcome
    # the blotter's
    engine = make_engine(database_url)
    try:
        rows = [repository.get_order(engine, row["order_id"])
                for row in repository.list_orders(engine, status="all")]
    finally:
        engine.dispose()
    assert len(rows) == 405
    assert all(r is not None for r in rows)
    blotter = {r["order"]["cl_ord_id"]: r for r in rows if r is not None}
    # the broker's: every child arrived once, and says what the blotter says
    assert all(kinds.get("D", 0) <= 1 for kinds in book["children"].values()), book["children"]
    at_broker = {o["cl_ord_ids"][0]: o for o in book["orders"].values()}
    sessions_used = set()
    for cl_ord_id, r in blotter.items():
        tracked = client.order(cl_ord_id)
        order, (child,) = r["order"], r["children"]
        sessions_used.add(child["session"])
        assert (tracked.status, tracked.cum_qty) == (order["status"], order["cum_qty"]), \
            (cl_ord_id, tracked, order)
        if order["status"] == "8":
            assert child["child_id"] not in at_broker  # refused before it went out
            continue
        broker_side = at_broker[child["child_id"]]
        assert (broker_side["status"], broker_side["cum_qty"]) == \
            (order["status"], order["cum_qty"]), (cl_ord_id, broker_side, order)
    assert len(at_broker) == sum(1 for r in blotter.values() if r["order"]["status"] != "8")
    # new flow went to the backup while the primary was away, and came back to it
    assert sessions_used == {primary, backup}
    assert {blotter[c]["children"][0]["session"] for c in back} == {primary}


def _journal_of(database_url: str, cl_ord_ids: list[str]) -> list[object]:
    """The blotter's story of some orders, for a failure's message."""
    engine = make_engine(database_url)
    try:
        found = []
        for row in repository.list_orders(engine, status="all"):
            if row["cl_ord_id"] in cl_ord_ids:
                order = repository.get_order(engine, row["order_id"])
                assert order is not None
                found.append((order["order"]["status"], order["children"],
                              [(e["kind"], e["session"], e["msg_type"], e["body"][:160])
                               for e in order["events"]]))
        return found
    finally:
        engine.dispose()


def test_a_logon_refused_with_a_logout_numbered_ahead_loses_no_message(tmp_path: Path) -> None:
    # Arrange: #19. A broker gateway sent two messages while the connection was down, then
    # refuses our next Logon with a Logout numbered after them. QuickFIX takes that Logout
    # as the message it expected; the next logon must still ask for the two.
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    broker = RawFixBroker(stack.broker_port, "BROKER1", "OMS", timeout=15)
    try:
        stack.start_oms(before_logon=broker.accept_logon)
        app = stack.server.application if stack.server else None
        assert app is not None
        broker.sock.close()
        wait_until(lambda: not app.is_logged_on(SIM))
        broker.seq += 2  # two reports the broker sent while we were away: 2 and 3

        # Act: refuse the next Logon with a Logout (4), take the one after (our Logon: 5)
        broker.sock, _ = broker.listener.accept()
        broker.parser = simplefix.FixParser()
        assert broker.receive()["35"] == "A"
        broker.send([("35", "5"), ("58", "gateway unavailable")])
        broker.sock.close()
        broker.accept_logon()
        resend = broker.receive()
        while resend["35"] != "2":
            resend = broker.receive()
    finally:
        stack.stop()
        broker.close()

    # Assert
    assert (resend["7"], resend["16"]) == ("2", "0"), resend
