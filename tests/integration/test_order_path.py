"""The order path end to end over real quickfix sessions on loopback, on SQLite and PostgreSQL.

Upstream client -> OMS acceptor -> core -> blotter -> OMS initiator -> broker simulator, and
the broker's ExecutionReports back the same way.
"""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest
import sqlalchemy as sa

from oms.store import repository
from oms.store.db import make_engine
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow

D = Decimal


def _blotter(database_url: str):
    return make_engine(database_url)


def _set_session_marks(database_url: str, **values: int) -> None:
    """Set columns of every ``fix_sessions`` row, as if the process had died with the
    blotter behind (a crash between receiving and committing, or committing and sending)."""
    from oms.store.schema import fix_sessions

    engine = _blotter(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.update(fix_sessions).values(**values))
    finally:
        engine.dispose()


def test_orders_flow_to_the_broker_and_fills_come_back_to_the_client(stack, database_url):
    # Arrange
    s = stack(broker_options={"fill_mode": "partial", "partial_fills": 3})
    s.start_broker()
    s.start_oms()
    client = s.client(orders=25, rate=0, window=10, limit_ratio=0.5)

    # Act
    summary = client.run()

    # Assert: the client saw every order filled, with consistent reports
    assert summary["protocol_errors"] == 0, summary["protocol_error_samples"]
    assert summary["filled"] == 25
    for state in summary["orders"].values():
        assert state["cum_qty"] == state["order_qty"]
        assert state["leaves_qty"] == 0
    # the blotter agrees: every order filled, the sum of fills equals CumQty
    s.stop_oms()
    engine = _blotter(database_url)
    try:
        rows = repository.list_orders(engine, status="all")
        assert len(rows) == 25
        assert {row["status"] for row in rows} == {"2"}
        assert repository.order_fill_consistency(engine) == []
        by_id = {row["order_id"]: row for row in rows}
        for state in summary["orders"].values():
            row = by_id[state["order_id"]]
            assert row["cum_qty"] == state["cum_qty"]
            assert row["avg_px"] == state["avg_px"]
        detail = repository.get_order(engine, rows[0]["order_id"])
        kinds = {(event["kind"], event["msg_type"]) for event in detail["events"]}
        assert ("in", "D") in kinds and ("out", "D") in kinds and ("out", "8") in kinds
        assert ("in", "8") in kinds
        assert any(e["transition"].startswith("FILL ") for e in detail["events"])
        assert len([e for e in detail["executions"] if e["exec_type"] == "F"]) == 3
    finally:
        engine.dispose()


def test_a_broker_session_reject_of_a_child_order_rejects_it_upstream(stack, database_url):
    # #2/#3: the broker refuses our D with a session-level Reject (3), which quotes only the
    # MsgSeqNum; the OMS ties it to the order through what toApp recorded at send time
    # Arrange
    s = stack(broker_options={"session_reject_symbols": ["BAD"]})
    s.start_broker()
    s.start_oms()
    client = s.client()

    # Act
    refused = client.send_order(symbol="BAD", side="buy", qty=100, ord_type="1")
    accepted = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")

    # Assert
    wait_until(lambda: client.order(refused).status == "8" and
               client.order(accepted).status == "2")
    [report] = [r for r in client.order(refused).reports if r.exec_type == "8"]
    assert report.text is not None and report.text.startswith("Refused by broker")
    assert report.leaves_qty == 0 and report.cum_qty == 0
    engine = _blotter(database_url)
    try:
        rows = {r["cl_ord_id"]: r for r in repository.list_orders(engine, status="all")}
        assert rows[refused]["status"] == "8" and rows[accepted]["status"] == "2"
    finally:
        engine.dispose()


def test_cancel_and_replace_are_forwarded_to_the_broker_and_answered(stack, database_url):
    # Arrange: the broker acks but never fills
    s = stack(broker_options={"fill_mode": "none"})
    s.start_broker()
    s.start_oms()
    client = s.client()
    first = client.send_order(symbol="IBM", side="buy", qty=500, ord_type="2", price=D("101.25"))
    second = client.send_order(symbol="MSFT", side="sell", qty=300, ord_type="1")
    wait_until(lambda: client.order(first).status == "0" and client.order(second).status == "0")

    # Act
    replace_id = client.replace(first, qty=400, price=D("101.50"))
    cancel_id = client.cancel(second)

    # Assert
    wait_until(lambda: client.order(first).replaces == 1 and client.order(second).status == "4")
    replaced = client.order(first)
    assert replaced.current_cl_ord_id == replace_id
    assert replaced.order_qty == D(400) and replaced.leaves_qty == D(400)
    canceled_reports = [r for r in client.order(second).reports if r.exec_type == "4"]
    assert canceled_reports[0].cl_ord_id == cancel_id
    assert canceled_reports[0].orig_cl_ord_id == second
    assert canceled_reports[0].leaves_qty == 0
    assert s.broker.counters.replaces_received == 1
    assert s.broker.counters.cancels_received == 1
    engine = _blotter(database_url)
    try:
        rows = {r["cl_ord_id"]: r for r in repository.list_orders(engine, status="all")}
        assert rows[replace_id]["order_qty"] == D(400)
        assert rows[replace_id]["price"] == D("101.50")
        assert rows[replace_id]["status"] == "0"
        assert rows[cancel_id]["status"] == "4" if cancel_id in rows else \
            rows[second]["status"] == "4"
    finally:
        engine.dispose()


def test_bad_input_gets_a_clear_answer_and_the_live_order_is_untouched(stack, database_url):
    # Arrange
    s = stack(broker_options={"fill_mode": "none"}, oms_overrides={"symbols": ["IBM", "MSFT"]})
    s.start_broker()
    s.start_oms()
    client = s.client()
    live = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="2", price=D("10"))
    wait_until(lambda: client.order(live).status == "0")

    # Act: an unknown symbol, a cancel of an unknown order, a replace below zero
    unknown_symbol = client.send_order(symbol="NOPE", side="buy", qty=100, ord_type="1")
    wait_until(lambda: client.order(unknown_symbol).status == "8")
    cancel_rejects_before = client.summary()["cancel_rejects"]
    bogus_cancel = client.cancel(unknown_symbol)  # the order is rejected: too late to cancel

    # Assert
    wait_until(lambda: client.summary()["cancel_rejects"] == cancel_rejects_before + 1)
    reject = next(r for r in client.received if r.msg_type == "9" and r.cl_ord_id == bogus_cancel)
    assert reject.cxl_rej_reason == "0"
    text = next(r.text for r in client.order(unknown_symbol).reports if r.exec_type == "8")
    assert "Unknown symbol NOPE" in text
    assert client.order(live).status == "0"


def test_the_server_comes_back_after_kill_9_with_its_open_orders(stack, database_url):
    # Arrange: the real `oms serve` in a process; the broker acks and never fills
    s = stack(broker_options={"fill_mode": "none"})
    s.start_broker()
    process = s.start_oms_process()
    client = s.client()
    ids = [client.send_order(symbol="AAPL", side="buy", qty=200, ord_type="2",
                             price=D("150.5")) for _ in range(5)]
    wait_until(lambda: all(client.order(i).status == "0" for i in ids))

    # Act: kill -9, start again
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    client.wait_for(lambda: not client.is_logged_on(), 10)
    s.start_oms_process()
    wait_until(client.is_logged_on, timeout=20)
    wait_until(lambda: s.broker.logged_on(), timeout=20)
    for cl_ord_id in ids:
        client.cancel(cl_ord_id)

    # Assert: the reloaded orders were canceled through the broker, new flow works
    wait_until(lambda: all(client.order(i).status == "4" for i in ids), timeout=20)
    fresh = client.send_order(symbol="AAPL", side="sell", qty=10, ord_type="1")
    wait_until(lambda: client.order(fresh).status == "0", timeout=20)
    s.stop_oms()
    engine = _blotter(database_url)
    try:
        rows = repository.list_orders(engine, status="all")
        assert sorted(r["status"] for r in rows) == ["0"] + ["4"] * 5
    finally:
        engine.dispose()


def test_fills_sent_while_the_server_was_down_are_applied_once(stack, database_url):
    # Arrange: the broker fills slowly; the OMS dies between fills
    s = stack(broker_options={"fill_mode": "partial", "partial_fills": 4,
                              "fill_interval": 0.5})
    s.start_broker()
    process = s.start_oms_process()
    client = s.client()
    ids = [client.send_order(symbol="IBM", side="buy", qty=400, ord_type="1")
           for _ in range(3)]
    wait_until(lambda: all(client.order(i).cum_qty > 0 for i in ids), timeout=20)

    # Act
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    s.start_oms_process()

    # Assert: every order ends filled, exactly once per fill
    wait_until(lambda: all(client.order(i).status == "2" for i in ids), timeout=30)
    for cl_ord_id in ids:
        order = client.order(cl_ord_id)
        assert order.cum_qty == D(400)
        assert order.fills_qty == D(400)
    s.stop_oms()
    engine = _blotter(database_url)
    try:
        assert repository.order_fill_consistency(engine) == []
        rows = repository.list_orders(engine, status="all")
        assert [r["cum_qty"] for r in rows] == [D(400)] * 3
    finally:
        engine.dispose()


def test_messages_the_blotter_never_committed_are_asked_for_again_and_counted_once(
        stack, database_url):
    # Arrange: a normal run, then the blotter is made to look as if the last messages from
    # the broker and the client had arrived but never been committed (a crash in between)
    s = stack(broker_options={"fill_mode": "partial", "partial_fills": 2})
    s.start_broker()
    s.start_oms()
    client = s.client(orders=10, rate=0, window=10)
    summary = client.run()
    assert summary["filled"] == 10
    s.stop_oms()
    _set_session_marks(database_url, last_inbound_seq=1)

    # Act: restart; quickfix asks both counterparties to resend everything after MsgSeqNum 1
    s.start_oms()
    wait_until(client.is_logged_on, timeout=20)
    fresh = client.send_order(symbol="IBM", side="buy", qty=50, ord_type="1")
    wait_until(lambda: client.order(fresh).status == "2", timeout=20)

    # Assert: the resent orders and fills were recognised, nothing was counted twice
    s.stop_oms()
    engine = _blotter(database_url)
    try:
        rows = repository.list_orders(engine, status="all")
        assert len(rows) == 11
        assert {r["status"] for r in rows} == {"2"}
        assert repository.order_fill_consistency(engine) == []
        for state in summary["orders"].values():
            order = client.order(state["cl_ord_id"])
            assert order.fills_qty == order.order_qty  # no fill reported twice upstream
        from oms.store.schema import order_events

        with engine.connect() as connection:
            ignored = connection.execute(sa.select(order_events.c.body).where(
                order_events.c.kind == "ignored")).scalars().all()
        assert sum("duplicate broker ExecID" in body for body in ignored) >= 30
        assert sum("PossDup order" in body for body in ignored) >= 10
        seqs = repository.load_inbound_seqs(engine)
        assert seqs["FIX.4.4:OMS->BROKER1"] > 1 and seqs["FIX.4.4:OMS->CLIENT1"] > 1
    finally:
        engine.dispose()


def test_stats_say_where_an_orders_time_goes_and_reset_starts_a_new_sample(stack):
    # #3: the admin interface's /stats: internal latency and its stages (the figures
    # oms bench prints); nothing here looks at the values, only that they are there
    # Arrange
    from oms.admin import call

    s = stack()
    s.start_broker()
    server = s.start_oms()
    client = s.client(orders=20, rate=0, window=5)
    token = server.config.admin_token_path

    # Act
    summary = client.run()
    stats = call(token, "GET", "/stats")
    call(token, "POST", "/stats/reset")
    after_reset = call(token, "GET", "/stats")

    # Assert
    assert summary["filled"] == 20
    assert stats["orders"] == 20
    assert stats["internal_latency_us"]["count"] == 20
    assert stats["queue_wait_us"]["count"] == 20
    assert stats["checks_us"]["count"] == 20  # one per NewOrderSingle
    stages = ("internal_latency_us", "queue_wait_us", "batch_us", "commit_us", "send_us",
              "checks_us")
    for stage in stages:
        figures = stats[stage]
        assert figures["count"] > 0, stage
        assert 0 < figures["p50"] <= figures["p99"] <= figures["max"], stage
    assert {stage: after_reset[stage]["count"] for stage in stages} \
        == dict.fromkeys(stages, 0)


def _lose_messages(database_url: str, session: str, bodies: list[str]) -> None:
    """Make the blotter look as if ``bodies`` had been committed for ``session`` and the
    process had died before handing them to the engine (#16: the window between a group
    commit and its send)."""
    from datetime import UTC, datetime

    from oms.store.schema import fix_sessions, order_events

    engine = _blotter(database_url)
    try:
        with engine.begin() as connection:
            committed = connection.execute(sa.select(fix_sessions.c.outbox_committed).where(
                fix_sessions.c.name == session)).scalar_one()
            for number, body in enumerate(bodies, start=committed + 1):
                connection.execute(order_events.insert().values(
                    ts=datetime.now(UTC), kind="out", order_id=None, session=session,
                    msg_type=body.split("|")[0].removeprefix("35="), body=body,
                    transition="", outbox_seq=number))
            connection.execute(sa.update(fix_sessions).where(fix_sessions.c.name == session)
                               .values(outbox_committed=committed + len(bodies)))
    finally:
        engine.dispose()


def _outbox_notes(database_url: str) -> list[str]:
    from oms.store.schema import order_events

    engine = _blotter(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(order_events.c.body).where(
                order_events.c.kind == "outbox").order_by(order_events.c.id)).scalars())
    finally:
        engine.dispose()


def _one_order_acked_then_stopped(s: Stack):  # type: ignore[no-untyped-def]
    """Broker, OMS and client up; one order acknowledged; the OMS stopped. Returns the
    client, the order's ClOrdID and our OrderID."""
    s.start_broker()
    s.start_oms()
    client = s.client()
    cl_ord_id = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="2",
                                  price=D("10"))
    wait_until(lambda: client.order(cl_ord_id).status == "0")
    s.stop_oms()
    return client, cl_ord_id, client.order(cl_ord_id).order_id


def _done_for_day(order_id: str, cl_ord_id: str, exec_id: str) -> str:
    """A DoneForDay report about that order, as the journal holds an outbound message."""
    return (f"35=8|37={order_id}|11={cl_ord_id}|17={exec_id}|150=3|39=3|55=IBM|54=1|38=100|"
            f"40=2|44=10|59=0|151=0|14=0|6=0|60=20261207-10:00:00.000|58=kept {exec_id}")


def test_messages_committed_but_never_sent_reach_the_client_after_a_restart(
        stack, database_url):
    # Arrange: an order acknowledged; then the blotter holds two reports the process
    # committed and never sent (a status change and a text), as after a kill -9
    s = stack(broker_options={"fill_mode": "none"})
    client, cl_ord_id, order_id = _one_order_acked_then_stopped(s)
    _lose_messages(database_url, "FIX.4.4:OMS->CLIENT1",
                   [_done_for_day(order_id, cl_ord_id, f"LOST-{n}") for n in (1, 2)])

    # Act
    s.start_oms()

    # Assert: both reach the client, once each, and the journal says what happened
    wait_until(lambda: {"LOST-1", "LOST-2"} <= {r.exec_id for r in client.received})
    assert [r.exec_id for r in client.received].count("LOST-1") == 1
    assert client.order(cl_ord_id).status == "3"
    notes = _outbox_notes(database_url)
    assert len(notes) == 1 and "2 never reached it and are sent now" in notes[0], notes
    fresh = client.send_order(symbol="IBM", side="buy", qty=10, ord_type="1")
    wait_until(lambda: client.order(fresh).status == "0")
    assert client.protocol_errors == 0, client.protocol_error_samples


def test_messages_the_engine_already_had_are_not_sent_again_after_a_restart(
        stack, database_url):
    # Arrange: two orders acknowledged; then the blotter forgets that their acks were
    # sent, as if the process had died before recording it (they are in the FIX store)
    s = stack(broker_options={"fill_mode": "none"})
    s.start_broker()
    s.start_oms()
    client = s.client()
    ids = [client.send_order(symbol="IBM", side="buy", qty=100, ord_type="2", price=D("10"))
           for _ in range(2)]
    wait_until(lambda: all(client.order(i).status == "0" for i in ids))
    s.stop_oms()
    _set_session_marks(database_url, outbox_sent=0)
    received = len(client.received)

    # Act
    s.start_oms()
    fresh = client.send_order(symbol="IBM", side="buy", qty=10, ord_type="1")
    wait_until(lambda: client.order(fresh).status == "0")

    # Assert: nothing was sent twice; the journal says the engine had them all
    notes = _outbox_notes(database_url)
    assert notes and all("sent now" not in note for note in notes), notes
    assert any("2 were in the FIX store" in note for note in notes), notes
    assert len(client.received) == received + 1
    assert client.protocol_errors == 0, client.protocol_error_samples


def test_a_session_that_resets_at_logon_gets_the_lost_messages_first_after_it(
        stack, database_url):
    # Arrange: the upstream session restarts sequence numbers at every logon, so the
    # engine's store cannot keep what was committed and never sent across the restart
    s = stack(broker_options={"fill_mode": "none"}, upstream_reset=True)
    client, cl_ord_id, order_id = _one_order_acked_then_stopped(s)
    _lose_messages(database_url, "FIX.4.4:OMS->CLIENT1",
                   [_done_for_day(order_id, cl_ord_id, "HELD-1")])

    # Act
    s.start_oms()

    # Assert: held until the client's logon, then sent
    wait_until(lambda: "HELD-1" in {r.exec_id for r in client.received})
    assert client.order(cl_ord_id).status == "3"
    notes = _outbox_notes(database_url)
    assert any("1 wait for the logon" in note for note in notes), notes
    assert "logged on: sent the 1 held outbound message(s) committed before the restart" \
        in notes
