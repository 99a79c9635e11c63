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
        11: harness.core.orders["O0-1"].child.cl_ord_id,
        55: "ACME",
        54: "1",
    }
    assert queries[1][11] == harness.core.orders["O0-2"].child.cl_ord_id
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


# --- #16: a broker logon that reset sequence numbers ------------------------------------------
def open_orders_of_every_kind(harness: Harness) -> list[str]:
    """C1 New, C2 PartiallyFilled, C3 PendingNew, C4 Filled (not open), C5 New with cancel
    C6 pending, C7 DoneForDay; the children of the open ones, in the order sent."""
    for cl_ord_id in ("C1", "C2", "C3", "C4", "C5", "C7"):
        harness.run(submit_order(cl_ord_id))
        child = harness.child("D")
        if cl_ord_id != "C3":
            harness.ack(cl_ord_id=child)
        if cl_ord_id == "C2":
            harness.fill("40", "10", cl_ord_id=child)
        if cl_ord_id == "C4":
            harness.fill("100", "10", cl_ord_id=child)
        if cl_ord_id == "C7":
            harness.broker("3", cl_ord_id=child)
    harness.run(cancel_order("C6", "C5"))
    return [harness.order(c).child.cl_ord_id for c in ("C1", "C2", "C3", "C5", "C7")]


def queried(step) -> list[str]:
    assert {m.msg_type for m in step.to_broker} <= {"H"}
    return [dict(m.fields)[11] for m in step.to_broker]


@pytest.mark.parametrize("how", ["Logon with 141=Y", "reset_on_logon configured"])
def test_broker_logon_with_reset_queries_every_open_order_paced(how):
    # Arrange: two queries per interval; five open orders, one filled
    harness = Harness(status_query_batch=2, status_query_interval=0.25,
                      reset_sessions={BROKER} if how == "reset_on_logon configured" else ())
    children = open_orders_of_every_kind(harness)
    harness.run(SessionLoggedOut(BROKER))

    # Act
    first = harness.run(SessionLoggedOn(BROKER, reset=how == "Logon with 141=Y"))
    delays = [delay for delay, _ in harness.timers.waiting]
    second = harness.after_timers()
    third = harness.after_timers()
    after = harness.after_timers()

    # Assert: every open child, two at a time, 0.25 s apart; nothing after the last
    assert (queried(first), queried(second), queried(third)) == (
        children[:2], children[2:4], children[4:])
    assert delays == [0.25]
    assert after.sent == [] and harness.timers.waiting == []
    assert first.upstream == []
    assert "sequence numbers reset" in first.events("session")[0].body


def test_broker_logon_without_reset_queries_only_orders_whose_request_is_unanswered():
    # Arrange
    harness = Harness(status_query_batch=2)
    children = open_orders_of_every_kind(harness)

    # Act
    step = harness.run(SessionLoggedOn(BROKER))

    # Assert: PendingNew C3 and PendingCancel C5 (the session's resend brings the rest)
    assert queried(step) == [children[2], children[3]]
    assert harness.timers.waiting == []


def test_paced_queries_stop_when_the_broker_logs_out():
    # Arrange
    harness = Harness(status_query_batch=2)
    open_orders_of_every_kind(harness)
    harness.run(SessionLoggedOn(BROKER, reset=True))

    # Act
    harness.run(SessionLoggedOut(BROKER))
    step = harness.after_timers()

    # Assert
    assert step.to_broker == []
    assert harness.timers.waiting == []


def test_a_timer_of_an_earlier_logon_does_not_query_for_the_next_one():
    # Arrange: logged on, out and on again before the first logon's timer fired
    harness = Harness(status_query_batch=2)
    children = open_orders_of_every_kind(harness)
    harness.run(SessionLoggedOn(BROKER, reset=True))
    harness.run(SessionLoggedOut(BROKER))
    again = harness.run(SessionLoggedOn(BROKER, reset=True))

    # Act: both timers fire together
    step = harness.after_timers()

    # Assert: the second logon starts over, and its next group goes out once
    assert queried(again) == children[:2]
    assert queried(step) == children[2:4]


def test_an_order_that_ended_while_waiting_for_its_query_is_not_queried():
    # Arrange
    harness = Harness(status_query_batch=2)
    children = open_orders_of_every_kind(harness)
    harness.run(SessionLoggedOn(BROKER, reset=True))

    # Act: C3 is rejected before its turn
    harness.broker("8", cl_ord_id=children[2], ord_status="8")
    step = harness.after_timers()

    # Assert
    assert queried(step) == children[3:5]
