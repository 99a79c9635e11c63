"""OrderStatusRequest, PossResend of NewOrderSingle, and session logons."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.app.commands import SessionLoggedOn, SessionLoggedOut
from tests.unit.app.harness import (
    BROKER,
    CLIENT,
    Harness,
    cancel_order,
    query_status,
    submit_order,
)

D = Decimal


# --- OrderStatusRequest ------------------------------------------------------------------------
def test_status_request_answers_with_the_current_status_and_echoes_the_request_id():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")

    # Act
    step = harness.run(query_status("C1", ord_status_req_id="REQ-7"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[790], report[11], report[37]) == (
        "I",
        "1",
        "REQ-7",
        "C1",
        "O0-1",
    )
    assert (report[14], report[151], report[6]) == ("40", "60", "10")
    assert step.batch.executions == []  # a status answer is not an execution
    assert step.to_broker == []


def test_status_request_by_the_cancel_cl_ord_id_finds_the_pending_order():
    # Arrange
    harness = Harness()
    harness.pending_cancel()

    # Act
    step = harness.run(query_status("C2"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[37]) == ("I", "6", "C2", "O0-1")


def test_status_request_for_an_unknown_order_answers_rejected():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(query_status("NOPE", ord_status_req_id="REQ-8"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[37], report[11], report[790]) == (
        "I",
        "8",
        "NONE",
        "NOPE",
        "REQ-8",
    )
    assert (report[14], report[151]) == ("0", "0")
    assert "NOPE" in report[58]


# --- PossResend ----------------------------------------------------------------------------------
def test_poss_resend_of_an_order_already_seen_is_ignored():
    # Arrange
    harness = Harness()
    harness.working_order()
    resend = submit_order("C1", poss_resend=True, raw="35=D|97=Y|11=C1")

    # Act
    step = harness.run(resend)

    # Assert
    assert step.sent == []
    [ignored] = step.events("ignored")
    assert "C1" in ignored.body
    assert [e.body for e in step.events("in")] == [resend.raw]
    assert len(harness.core.orders) == 1


def test_poss_resend_of_an_order_never_seen_is_processed():
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.run(submit_order("C9", poss_resend=True))

    # Assert
    assert step.only_to_broker("D")[38] == "100"
    assert step.events("ignored") == []


@pytest.mark.parametrize(
    ("reset_sessions", "ignored"),
    [
        ({CLIENT}, False),
        (set(), True),
    ],
    ids=["ResetOnLogon session forgets", "other session remembers"],
)
def test_logon_of_a_reset_session_forgets_the_cl_ord_ids_seen(reset_sessions, ignored):
    # Arrange
    harness = Harness(reset_sessions=reset_sessions)
    harness.working_order(filled="100")  # C1 is done: reusing it is legal
    harness.run(SessionLoggedOut(CLIENT))
    harness.run(SessionLoggedOn(CLIENT))

    # Act
    step = harness.run(submit_order("C1", poss_resend=True, order_qty=D(5)))

    # Assert
    assert bool(step.events("ignored")) is ignored
    assert [m.msg_type for m in step.to_broker] == ([] if ignored else ["D"])


# --- broker logon ---------------------------------------------------------------------------------
def test_broker_logon_asks_the_status_of_orders_whose_last_request_is_unanswered():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")  # acknowledged: the session resend covers it
    harness.run(submit_order("C2"))  # never acknowledged
    harness.run(submit_order("C3"))
    harness.broker("4")  # C3's child canceled: not live any more
    harness.run(cancel_order("C4", "C1"))  # the working order now has a cancel pending

    # Act
    step = harness.run(SessionLoggedOn(BROKER))

    # Assert
    queries = [dict(m.fields) for m in step.to_broker]
    assert [m.msg_type for m in step.to_broker] == ["H", "H"]
    assert queries[0] == {
        37: "BRK-1",
        11: harness.core.orders["O0-1"].child_cl_ord_id,
        55: "ACME",
        54: "1",
    }
    assert queries[1][11] == harness.core.orders["O0-2"].child_cl_ord_id
    assert 37 not in queries[1]  # never acknowledged: no broker OrderID yet
    assert step.upstream == []
    assert [e.kind for e in step.batch.events][0] == "session"


def test_cancel_answered_after_logout_and_logon_still_reaches_the_client():
    # Arrange
    harness = Harness()
    harness.pending_cancel()
    harness.run(SessionLoggedOut(BROKER))
    harness.run(SessionLoggedOn(BROKER))

    # Act
    step = harness.broker("4", cl_ord_id=harness.child("F"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[11], report[41]) == ("4", "C2", "C1")
