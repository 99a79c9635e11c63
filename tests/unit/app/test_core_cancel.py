"""OrderCancelRequest: the child cancel, the broker's answers, and our own refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.app.commands import SessionLoggedOn
from oms.app.ports import Route
from oms.domain.enums import OrdStatus
from tests.unit.app.harness import (
    BACKUP,
    BROKER,
    CLIENT,
    Harness,
    broker_cancel_reject,
    broker_report,
    cancel_order,
    replace_order,
    submit_order,
    tags,
)

D = Decimal


# --- the cancel goes through --------------------------------------------------------------
def test_cancel_request_sends_a_child_cancel_naming_the_current_child():
    # Arrange
    harness = Harness()
    harness.working_order()
    child = harness.child("D")

    # Act
    step = harness.run(cancel_order("C2", "C1"))

    # Assert
    cancel = step.only_to_broker("F")
    assert cancel[41] == child
    assert cancel[11] not in (child, "C2", "C1")
    assert cancel[37] == "BRK-1"
    assert (cancel[55], cancel[54], cancel[38]) == ("ACME", "1", "100")
    assert step.upstream == []
    assert harness.order().status is OrdStatus.PENDING_CANCEL
    assert step.batch.orders["O0-1"].status == "6"


def test_broker_pending_cancel_and_canceled_are_reported_with_the_cancels_cl_ord_ids():
    # Arrange
    harness = Harness()
    harness.pending_cancel(filled="30")
    child, cancel_child = harness.child("D"), harness.child("F")

    # Act
    pending = harness.broker("6", cl_ord_id=cancel_child, orig_cl_ord_id=child)
    canceled = harness.broker("4", cl_ord_id=cancel_child, orig_cl_ord_id=child)

    # Assert
    first, last = pending.only_upstream("8"), canceled.only_upstream("8")
    assert (first[150], first[39], first[11], first[41]) == ("6", "6", "C2", "C1")
    assert (first[14], first[151]) == ("30", "70")
    assert (last[150], last[39], last[11], last[41]) == ("4", "4", "C2", "C1")
    assert (last[14], last[151], last[6]) == ("30", "0", "10")
    assert canceled.batch.orders["O0-1"].status == "4"


@pytest.mark.parametrize(
    ("filled", "status_back"),
    [("0", "0"), ("30", "1")],
    ids=["back to New", "back to PartiallyFilled"],
)
def test_broker_cancel_reject_is_relayed_with_the_clients_cl_ord_ids(filled, status_back):
    # Arrange
    harness = Harness()
    harness.pending_cancel(filled=filled)
    child, cancel_child = harness.child("D"), harness.child("F")

    # Act
    step = harness.run(broker_cancel_reject(cancel_child, child, reason="0"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[37]) == ("C2", "C1", "O0-1")
    assert (reject[434], reject[102], reject[39]) == ("1", "0", status_back)
    assert reject[58] == "Too late"
    assert harness.order().status.value == status_back
    assert harness.order().pending is None


def test_broker_cancel_reject_of_a_done_for_day_order_leaves_it_done_for_day():
    # Arrange
    harness = Harness()
    harness.working_order(filled="30")
    harness.broker("3")
    harness.run(cancel_order("C2", "C1"))

    # Act
    step = harness.run(broker_cancel_reject(harness.child("F"), harness.child("D")))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[39]) == ("C2", "C1", "3")
    assert harness.order().status is OrdStatus.DONE_FOR_DAY


def test_fill_racing_the_cancel_is_reported_pending_cancel_then_the_reject_says_filled():
    # Arrange: Appendix D, a cancel request for an order filled before it is processed
    harness = Harness()
    harness.pending_cancel(filled="30")
    child, cancel_child = harness.child("D"), harness.child("F")

    # Act
    fill = harness.fill("70", "11")
    reject = harness.run(broker_cancel_reject(cancel_child, child, reason="0"))

    # Assert
    report = fill.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("F", "6", "C1")
    assert (report[14], report[151], report[32], report[31], report[6]) == (
        "100",
        "0",
        "70",
        "11",
        "10.7",
    )
    answer = reject.only_upstream("9")
    assert (answer[11], answer[41], answer[39], answer[434]) == ("C2", "C1", "2", "1")
    assert harness.order().status is OrdStatus.FILLED


def test_ack_arriving_after_the_cancel_left_keeps_the_order_pending_cancel():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1"))
    harness.run(cancel_order("C2", "C1"))

    # Act
    step = harness.ack()

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39]) == ("0", "6")
    assert harness.order().status is OrdStatus.PENDING_CANCEL


# --- unsolicited cancels -------------------------------------------------------------------
def test_unsolicited_broker_cancel_is_reported_with_the_current_cl_ord_id_and_no_orig():
    # Arrange
    harness = Harness()
    harness.working_order(filled="25")

    # Act
    step = harness.broker("4", text="Cancelled by exchange")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("4", "4", "C1")
    assert 41 not in report
    assert (report[14], report[151], report[58]) == ("25", "0", "Cancelled by exchange")


def test_unsolicited_cancel_after_a_replace_names_the_replacement_cl_ord_id():
    # Arrange
    harness = Harness()
    harness.pending_replace()
    harness.broker("5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))

    # Act
    step = harness.broker("4", cl_ord_id=harness.child("G"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("4", "4", "C3")
    assert 41 not in report


# --- refusals by us -----------------------------------------------------------------------
def test_cancel_of_an_unknown_order_is_refused_as_unknown():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(cancel_order("C2", "NOPE"))

    # Assert
    reject = step.only_upstream("9")
    assert reject == {
        37: "NONE",
        11: "C2",
        41: "NOPE",
        39: "8",
        434: "1",
        102: "1",
        58: "Unknown order NOPE",
    }
    assert step.to_broker == []


def test_cancel_of_a_filled_order_is_too_late():
    # Arrange
    harness = Harness()
    harness.working_order(filled="100")

    # Act
    step = harness.run(cancel_order("C2", "C1"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[37], reject[11], reject[41]) == ("O0-1", "C2", "C1")
    assert (reject[102], reject[39], reject[434]) == ("0", "2", "1")
    assert "filled" in reject[58]
    assert step.to_broker == []


@pytest.mark.parametrize(
    ("first", "status"),
    [
        (cancel_order("C2", "C1"), "6"),
        (replace_order("C2", "C1"), "E"),
    ],
    ids=["cancel pending", "replace pending"],
)
def test_second_request_while_one_is_pending_is_refused_as_already_pending(first, status):
    # Arrange
    harness = Harness()
    harness.working_order()
    harness.run(first)

    # Act
    step = harness.run(cancel_order("C5", "C1"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[434], reject[102], reject[39]) == (
        "C5",
        "C1",
        "1",
        "3",
        status,
    )
    assert step.to_broker == []


REFUSED_CANCELS = {
    # scenario: (cancel fields, CxlRejReason, words in Text)
    "side does not match": ({"side": "2"}, "99", "Side (54) 2 does not match"),
    "symbol does not match": ({"symbol": "OTHER"}, "99", "Symbol (55) OTHER does not match"),
}


@pytest.mark.parametrize(
    ("fields", "reason", "words"), list(REFUSED_CANCELS.values()), ids=list(REFUSED_CANCELS)
)
def test_cancel_that_does_not_match_the_order_is_refused(fields, reason, words):
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.run(cancel_order("C2", "C1", **fields))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[434], reject[102], reject[39]) == (
        "C2",
        "C1",
        "1",
        reason,
        "0",
    )
    assert words in reject[58]
    assert step.to_broker == []
    assert harness.order().status is OrdStatus.NEW


def test_cancel_reusing_a_known_cl_ord_id_is_refused_as_duplicate():
    # Arrange
    harness = Harness()
    harness.working_order()
    harness.run(submit_order("C7"))

    # Act
    step = harness.run(cancel_order("C7", "C1"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[102], reject[434]) == ("C7", "C1", "6", "1")


def test_cancel_sent_twice_with_the_same_cl_ord_id_is_a_duplicate():
    # Arrange
    harness = Harness()
    harness.working_order()
    harness.run(cancel_order("C2", "C1"))
    harness.broker("4", cl_ord_id=harness.child("F"), orig_cl_ord_id=harness.child("D"))

    # Act
    step = harness.run(cancel_order("C2", "C1"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[102], reject[434]) == ("6", "1")


def test_a_cancel_while_the_broker_is_down_is_held_and_sent_first_at_its_logon():
    # Arrange: #19
    harness = Harness()
    harness.working_order()
    child = harness.child("D")
    harness.logged_out(BROKER)

    # Act
    held = harness.run(cancel_order("C2", "C1"))
    back = harness.run(SessionLoggedOn(BROKER))

    # Assert: the client hears PendingCancel from us; the broker gets the cancel at logon
    pending = held.only_upstream("8")
    assert (pending[150], pending[39], pending[11], pending[41]) == ("6", "6", "C2", "C1")
    assert held.to_broker == []
    assert harness.order().status is OrdStatus.PENDING_CANCEL
    assert back.to_broker[0].msg_type == "F" and tags(back.to_broker[0])[41] == child
    assert harness.after_timers().upstream == []  # sent: its expiry finds nothing


def test_a_held_cancel_whose_session_stays_down_is_refused_after_the_hold():
    # Arrange
    harness = Harness()
    harness.working_order()
    harness.logged_out(BROKER)
    harness.run(cancel_order("C2", "C1"))

    # Act
    expired = harness.after_timers()
    back = harness.run(SessionLoggedOn(BROKER))

    # Assert
    reject = expired.only_upstream("9")
    assert (reject[11], reject[41], reject[102], reject[434]) == ("C2", "C1", "2", "1")
    assert reject[58] == "Broker SIM is not connected (waited 30 s)"
    assert harness.order().status is OrdStatus.NEW
    assert [m.msg_type for m in back.to_broker] != ["F"]  # never sent


def test_a_replace_while_the_broker_is_down_is_held_as_pending_replace():
    harness = Harness()
    harness.working_order()
    harness.logged_out(BROKER)

    held = harness.run(replace_order("C2", "C1", order_qty=Decimal(50)))

    pending = held.only_upstream("8")
    assert (pending[150], pending[39], pending[11], pending[41]) == ("E", "E", "C2", "C1")
    assert held.to_broker == []


def test_with_cancel_via_backup_a_cancel_goes_out_on_the_brokers_session_that_is_up():
    # Arrange
    harness = Harness(routes={"SIM": Route("SIM", BROKER, "", (BROKER, BACKUP),
                                           cancel_via_backup=True)},
                      logged_on=(CLIENT, BROKER, BACKUP))
    harness.working_order()
    child = harness.child("D")
    harness.logged_out(BROKER)

    # Act
    step = harness.run(cancel_order("C2", "C1"))

    # Assert
    (cancel,) = step.sent
    assert (cancel.session, cancel.msg_type, tags(cancel)[41]) == (BACKUP, "F", child)
    assert step.upstream == []


def test_cancel_found_by_order_id_when_orig_cl_ord_id_is_unknown():
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.run(cancel_order("C2", "WRONG", order_id="O0-1"))

    # Assert
    assert step.only_to_broker("F")[41] == harness.child("D")


def test_cancel_reject_from_the_broker_for_nothing_pending_is_an_error():
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.run(broker_cancel_reject("C0-99", harness.child("D")))

    # Assert
    assert step.sent == []
    [error] = step.events("error")
    assert "not pending" in error.body
    assert harness.order().status is OrdStatus.NEW


def test_broker_report_for_an_unknown_child_is_an_error():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(broker_report("C0-404", "F", "BX1", last_qty="1", last_px="1"))

    # Assert
    assert step.sent == []
    [error] = step.events("error")
    assert "C0-404" in error.body
    assert [e.session for e in step.events("in")] == [harness.routes["SIM"].session]
    assert CLIENT not in {e.session for e in step.batch.events}


# --- a pending request the broker's own change overtakes (#16) ---------------------------
@pytest.mark.parametrize(("exec_type", "status", "text"), [
    ("C", "C", "Order expired"),
    ("3", "3", "Order is done for the day"),
])
def test_a_pending_cancel_overtaken_by_expiry_or_done_for_day_is_refused_too_late(
        exec_type, status, text):
    # Arrange: cancel C2 pending at the broker
    harness = Harness()
    harness.pending_cancel(filled="25")

    # Act: the broker expires the order (or is done for the day) instead
    step = harness.broker(exec_type, ord_status=status)

    # Assert: the client's cancel is answered, too late, then the change is reported
    reject, report = step.upstream
    assert reject.msg_type == "9" and report.msg_type == "8"
    fields = dict(reject.fields)
    assert (fields[11], fields[41], fields[434], fields[102], fields[39], fields[58]) == (
        "C2", "C1", "1", "0", status, text)
    assert (dict(report.fields)[150], dict(report.fields)[39]) == (exec_type, status)
    assert harness.order().pending is None


def test_a_pending_replace_overtaken_by_expiry_is_refused_too_late():
    # Arrange: replace C3 pending
    harness = Harness()
    harness.pending_replace()

    # Act
    step = harness.broker("C", ord_status="C")

    # Assert
    fields = dict(step.upstream[0].fields)
    assert (step.upstream[0].msg_type, fields[11], fields[434], fields[102], fields[39]) == (
        "9", "C3", "2", "0", "C")


def test_a_cancel_sent_before_the_ack_is_refused_too_late_when_the_broker_rejects_the_order():
    # Arrange: C1 not yet acknowledged; cancel C2 sent
    harness = Harness()
    harness.run(submit_order())
    harness.run(cancel_order())

    # Act: the broker rejects the order itself
    step = harness.broker("8", cl_ord_id=harness.child("D"), ord_status="8",
                          text="unknown symbol")

    # Assert
    reject, report = step.upstream
    fields = dict(reject.fields)
    assert (reject.msg_type, fields[11], fields[102], fields[39]) == ("9", "C2", "0", "8")
    assert (dict(report.fields)[150], dict(report.fields)[39]) == ("8", "8")
