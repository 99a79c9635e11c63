"""Broker ExecutionReports beyond ack and fill: busts, corrections, status changes, and
reports that are illegal for the order's state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.app.commands import SessionLoggedOn
from oms.domain.enums import OrdStatus
from tests.unit.app.harness import BROKER, Harness, cancel_order, submit_order

D = Decimal


def filled_in_two(harness: Harness) -> None:
    """Order C1 of 150 filled 100 @ 10 (broker BX-A) then 50 @ 10.3 (broker BX-B)."""
    harness.working_order(qty="150")
    harness.fill("100", "10", exec_id="BX-A")
    harness.fill("50", "10.3", exec_id="BX-B")


def our_exec_id_of(harness: Harness, broker_exec_id: str) -> str:
    return next(f.exec_id for f in harness.order().fills if f.broker_exec_id == broker_exec_id)


# --- trade bust and correction -----------------------------------------------------------------
def test_trade_bust_refers_to_our_exec_id_and_reopens_a_filled_order():
    # Arrange
    harness = Harness()
    filled_in_two(harness)
    ours = our_exec_id_of(harness, "BX-B")

    # Act
    step = harness.broker("H", exec_ref_id="BX-B")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[19], report[39]) == ("H", ours, "1")
    assert (report[14], report[151], report[6]) == ("100", "50", "10")
    assert report[17] != ours
    assert harness.order().status is OrdStatus.PARTIALLY_FILLED
    [execution] = step.batch.executions
    assert (execution.exec_type, execution.exec_ref_id) == ("H", ours)


def test_trade_correction_reports_the_new_fill_and_recomputes_avg_px():
    # Arrange
    harness = Harness()
    filled_in_two(harness)
    ours = our_exec_id_of(harness, "BX-B")

    # Act
    step = harness.broker("G", exec_ref_id="BX-B", last_qty="50", last_px="10.6")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[19], report[39], report[32], report[31]) == (
        "G",
        ours,
        "2",
        "50",
        "10.6",
    )
    assert (report[14], report[151], report[6]) == ("150", "0", "10.2")
    assert report[17] not in (ours, "BX-B")


def test_trade_correction_to_a_smaller_quantity_reopens_the_order():
    # Arrange
    harness = Harness()
    filled_in_two(harness)

    # Act
    step = harness.broker("G", exec_ref_id="BX-B", last_qty="20", last_px="10.5")

    # Assert
    report = step.only_upstream("8")
    assert (report[39], report[14], report[151], report[6]) == ("1", "120", "30", "10.0833333333")


# --- broker status changes -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("exec_type", "status"),
    [
        ("C", "C"),  # expired
        ("3", "3"),  # done for day
    ],
)
def test_broker_end_of_life_reports_are_relayed_with_no_leaves(exec_type, status):
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")

    # Act
    step = harness.broker(exec_type)

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[14], report[151], report[11]) == (
        exec_type,
        status,
        "40",
        "0",
        "C1",
    )


def test_broker_restatement_is_relayed_with_its_exec_restatement_reason():
    # Arrange
    harness = Harness()
    harness.working_order(qty="10000")

    # Act: the broker restates the quantity, reason 5 (partial decline of OrderQty)
    step = harness.broker("D", ord_status="0", order_qty="9000", exec_restatement_reason="5")

    # Assert: #16, the reason reaches the client
    report = step.only_upstream("8")
    assert (report[150], report[39], report[38], report[151], report[378]) == (
        "D",
        "0",
        "9000",
        "9000",
        "5",
    )


def test_broker_restatement_without_a_reason_sends_none_and_other_reports_never_carry_one():
    # Arrange
    harness = Harness()
    harness.working_order(qty="10000")

    # Act
    restated = harness.broker("D", ord_status="0", order_qty="9000")
    filled = harness.fill("100", "10", exec_restatement_reason="5")

    # Assert
    assert 378 not in restated.only_upstream("8")
    assert 378 not in filled.only_upstream("8")


def test_broker_reject_of_the_order_is_relayed_with_its_text():
    # Arrange
    harness = Harness()
    harness.run(submit_order())

    # Act
    step = harness.broker("8", text="Unknown account")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[58], report[151]) == ("8", "8", "Unknown account", "0")
    assert report[103] == "0"


def test_late_fill_after_a_cancel_is_booked_and_the_order_stays_canceled():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")
    harness.broker("4")

    # Act
    step = harness.fill("10", "10")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[14], report[151]) == ("F", "4", "50", "0")


# --- reports the order's state does not allow -------------------------------------------------
ILLEGAL_REPORTS = {
    # scenario: (filled before, exec type, report fields, words in the error)
    "Replaced with no replace pending": ("0", "5", {}, "REPLACE"),
    "PendingCancel with no cancel pending": ("0", "6", {}, "CANCEL_PENDING"),
    "Canceled on a filled order": ("100", "4", {}, "FILLED -> CANCEL"),
    "fill above OrderQty": ("40", "F", {"last_qty": "61", "last_px": "10"}, "above OrderQty"),
    "fill without LastQty": ("0", "F", {"last_px": "10"}, "without LastQty"),
    "bust of an unknown ExecID": ("40", "H", {"exec_ref_id": "NOPE"}, "NOPE"),
    "correction of an unknown ExecID": (
        "40",
        "G",
        {"exec_ref_id": "NOPE", "last_qty": "1", "last_px": "1"},
        "NOPE",
    ),
    "trade bust on a New order": ("0", "H", {"exec_ref_id": "BX1"}, "NEW -> TRADE_CANCEL"),
}


@pytest.mark.parametrize(
    ("filled", "exec_type", "fields", "words"),
    list(ILLEGAL_REPORTS.values()),
    ids=list(ILLEGAL_REPORTS),
)
def test_broker_report_illegal_for_the_order_is_journaled_as_an_error_and_changes_nothing(
    filled, exec_type, fields, words
):
    # Arrange
    harness = Harness()
    order = harness.working_order(filled=filled)
    before = (
        order.status,
        order.cum_qty,
        order.order_qty,
        order.avg_px,
        order.version,
        order.cl_ord_id,
        order.child.cl_ord_id,
        order.pending,
        len(order.fills),
    )

    # Act
    step = harness.broker(exec_type, **fields)

    # Assert
    assert step.sent == []
    [error] = step.events("error")
    assert words in error.body
    assert error.order_id == order.order_id
    assert [e.msg_type for e in step.events("in")] == ["8"]
    assert step.events("transition") == []
    assert [e.transition for e in step.events("in")] == [""]
    assert step.batch.executions == []
    assert (
        order.status,
        order.cum_qty,
        order.order_qty,
        order.avg_px,
        order.version,
        order.cl_ord_id,
        order.child.cl_ord_id,
        order.pending,
        len(order.fills),
    ) == before
    assert step.batch.orders[order.order_id].status == before[0].value


def test_repeated_ack_is_ignored():
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.ack()

    # Assert
    assert step.sent == []
    assert len(step.events("ignored")) == 1


def test_broker_status_answer_that_disagrees_with_the_blotter_is_an_error():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")

    # Act
    step = harness.broker("I", cum_qty="50")

    # Assert
    assert step.sent == []
    [error] = step.events("error")
    assert "CumQty 50" in error.body and "40" in error.body
    assert harness.order().cum_qty == D(40)


def test_a_report_carrying_only_the_broker_order_id_finds_its_order():
    # Arrange: ClOrdID (11) is optional on an ExecutionReport; some brokers send only 37
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.broker("F", cl_ord_id="", last_qty="30", last_px="10",
                          broker_order_id="BRK-1")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[14], report[11]) == ("F", "1", "30", "C1")


def test_an_order_the_broker_never_received_is_rejected_after_the_status_query():
    # Arrange: the child D was committed but never reached the broker (a crash in between);
    # at the broker's next logon we ask for its status
    harness = Harness()
    harness.run(submit_order("C1"))
    query = harness.run(SessionLoggedOn(BROKER)).only_to_broker("H")

    # Act: the broker does not know it
    step = harness.broker("I", cl_ord_id=query[11], ord_status="8", text="unknown order",
                          broker_order_id="NONE")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("8", "8", "C1")
    assert "Broker does not know the order: unknown order" == report[58]
    assert harness.order().status is OrdStatus.REJECTED


def test_a_status_answer_for_a_working_order_changes_nothing():
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.broker("I", ord_status="0", cum_qty="0")

    # Assert
    assert step.upstream == []
    assert harness.order().status is OrdStatus.NEW


def test_a_cancel_the_broker_never_received_is_refused_after_the_status_query():
    # Arrange: cancel C2 was committed but never reached the broker (a crash in between)
    harness = Harness()
    harness.working_order()
    harness.run(cancel_order("C2", "C1"))
    query = harness.run(SessionLoggedOn(BROKER)).only_to_broker("H")

    # Act: the broker has the order working, no cancel pending
    step = harness.broker("I", cl_ord_id=query[11], ord_status="0", cum_qty="0")

    # Assert: the client hears that its cancel did not happen; the order is working again
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[39], reject[434]) == ("C2", "C1", "0", "1")
    assert "did not reach the broker" in reject[58]
    assert harness.order().status is OrdStatus.NEW


@pytest.mark.parametrize(("ord_status", "cum_qty", "errors"), [("0", "0", 0), ("1", "30", 1)])
def test_a_status_answer_saying_working_acknowledges_an_order_whose_new_never_came(
        ord_status, cum_qty, errors):
    # Arrange: the broker got the child D, but its New was lost with the connection (a
    # broker that resets its sequence numbers at logon never resends it)
    harness = Harness()
    harness.run(submit_order("C1"))
    query = harness.run(SessionLoggedOn(BROKER)).only_to_broker("H")

    # Act: the answer to our query says the order is working there
    step = harness.broker("I", cl_ord_id=query[11], ord_status=ord_status, cum_qty=cum_qty)

    # Assert: the client hears New; fills without an AvgPx to price them are an error (#16)
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[14]) == ("0", "0", "C1", "0")
    assert harness.order().status is OrdStatus.NEW
    assert len(step.events("error")) == errors


@pytest.mark.parametrize(("ord_status", "after_new", "status"), [
    ("2", [], OrdStatus.NEW),  # Filled with CumQty 0: nothing to book (an error event)
    ("4", ["4"], OrdStatus.CANCELED),
    ("C", ["C"], OrdStatus.EXPIRED),
])
def test_a_status_answer_saying_ended_acknowledges_a_pending_new_order_then_ends_it(
        ord_status, after_new, status):
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1"))
    query = harness.run(SessionLoggedOn(BROKER)).only_to_broker("H")

    # Act
    step = harness.broker("I", cl_ord_id=query[11], ord_status=ord_status, cum_qty="0")

    # Assert: #16: the broker has the order (New upstream), then the status it says
    assert [dict(m.fields)[150] for m in step.upstream] == ["0", *after_new]
    assert harness.order().status is status


def test_a_status_answer_saying_unknown_rejects_a_pending_new_order():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1"))
    query = harness.run(SessionLoggedOn(BROKER)).only_to_broker("H")

    # Act
    step = harness.broker("I", cl_ord_id=query[11], ord_status="8", cum_qty="0",
                          broker_order_id="NONE")

    # Assert
    assert [dict(m.fields)[150] for m in step.upstream] == ["8"]
    assert harness.order().status is OrdStatus.REJECTED
