"""The broker's answer to our OrderStatusRequest (ExecType I) reconciles the order (#16).

After a logon that reset sequence numbers, the broker's resend cannot bring what happened
while we were away: its status answer is all we learn. A CumQty above ours is booked as one
fill whose price the two AvgPx give; a held or ended status is applied; a request the broker
does not show is refused upstream; a CumQty below ours is an error (fills are never
unbooked). Expected prices are worked out by hand in each test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.app.commands import SessionLoggedOn
from oms.domain.enums import OrdStatus
from tests.unit.app.harness import BROKER, Harness, submit_order, tags

D = Decimal
INFERRED = "Inferred from the broker's status answer"


def status_answer(harness: Harness, ord_status: str, cum_qty: str, avg_px: str | None,
                  **values: str):
    """The broker answers a status query about C1's child; its ExecID repeats (no trade)."""
    return harness.broker("I", exec_id="STATUS-1", ord_status=ord_status, cum_qty=cum_qty,
                          avg_px=avg_px, **values)


# --- the fill a status answer implies -------------------------------------------------------
def test_a_cum_qty_above_ours_is_booked_as_one_fill_priced_from_the_two_avg_px():
    # Arrange: 300 of 2000 filled at 10 (notional 3000)
    harness = Harness()
    harness.working_order(qty="2000", filled="300", px="10.00")

    # Act: the broker has 1001 at AvgPx 10.5 (notional 10510.5)
    step = status_answer(harness, "1", "1001", "10.5")

    # Assert: 701 more at (10510.5 - 3000) / 701 = 7510.5 / 701 = 10.713980028530..., which
    # does not terminate: rounded to AvgPx's ten places
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("F", "1", "C1")
    assert (report[32], report[31]) == ("701", "10.7139800285")
    # 3000 + 701 x 10.7139800285 = 10510.4999999785; / 1001 = 10.49999999997852 -> 10.5
    assert (report[14], report[151], report[6]) == ("1001", "999", "10.5")
    assert report[58].startswith(INFERRED)
    [execution] = step.batch.executions
    assert execution.exec_id == report[17] != "STATUS-1"
    assert (execution.exec_type, execution.last_qty, execution.last_px) == (
        "F", D(701), D("10.7139800285"))
    assert execution.broker_exec_id == ""  # a status answer's ExecID names no trade
    assert execution.text == report[58]
    assert harness.order().cum_qty == D(1001)
    assert step.events("error") == []


def test_a_status_answer_that_fills_the_order_books_the_rest_and_reports_it_filled():
    # Arrange: 40 of 100 filled at 10 (notional 400)
    harness = Harness()
    harness.working_order(qty="100", filled="40", px="10")

    # Act: the broker has all 100 at AvgPx 10.3 (notional 1030)
    step = status_answer(harness, "2", "100", "10.3")

    # Assert: 60 at (1030 - 400) / 60 = 10.5, exactly
    report = step.only_upstream("8")
    assert (report[150], report[39], report[32], report[31]) == ("F", "2", "60", "10.5")
    assert (report[14], report[151], report[6]) == ("100", "0", "10.3")
    assert harness.order().status is OrdStatus.FILLED


def test_a_pending_new_order_the_broker_has_filled_is_acknowledged_then_filled():
    # Arrange: the defect of #16: the child D went out, then the connection dropped; the
    # broker reset its sequence numbers, so neither its New nor its fill will be resent
    # (a PendingNew order is queried at any broker logon)
    harness = Harness()
    harness.run(submit_order("C1", order_qty=D(1001)))
    query = harness.run(SessionLoggedOn(BROKER)).only_to_broker("H")

    # Act
    step = harness.broker("I", cl_ord_id=query[11], exec_id="STATUS-1", ord_status="2",
                          cum_qty="1001", avg_px="10.5")

    # Assert: New, then the whole quantity filled at the broker's AvgPx
    new, fill = (tags(m) for m in step.upstream)
    assert (new[150], new[39], new[14]) == ("0", "0", "0")
    assert (fill[150], fill[39], fill[32], fill[31], fill[14], fill[6]) == (
        "F", "2", "1001", "10.5", "1001", "10.5")
    assert harness.order().status is OrdStatus.FILLED


@pytest.mark.parametrize(
    ("avg_px", "why"),
    [(None, "no AvgPx"), ("5", "AvgPx 5")],
    ids=["AvgPx missing", "price negative: (400 x 5 - 3000) / 100 = -10"],
)
def test_a_cum_qty_above_ours_without_a_usable_price_is_an_error_and_books_nothing(avg_px, why):
    # Arrange: 300 filled at 10 (notional 3000)
    harness = Harness()
    harness.working_order(qty="1000", filled="300", px="10")

    # Act
    step = status_answer(harness, "1", "400", avg_px)

    # Assert
    assert step.sent == []
    [error] = step.events("error")
    assert "CumQty 400" in error.body and why in error.body and "nothing booked" in error.body
    assert harness.order().cum_qty == D(300)
    assert step.batch.executions == []


def test_a_cum_qty_below_ours_is_an_error_and_unbooks_nothing():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")

    # Act
    step = status_answer(harness, "1", "30", "10")

    # Assert
    assert step.sent == []
    [error] = step.events("error")
    assert "CumQty 30" in error.body and "40" in error.body
    assert harness.order().cum_qty == D(40)


def test_a_status_answer_agreeing_with_the_blotter_changes_nothing():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")

    # Act
    step = status_answer(harness, "1", "40", "10")

    # Assert
    assert step.sent == []
    assert step.events("error") == []


def test_a_status_answer_is_never_booked_twice_when_it_comes_again():
    # Arrange: the same answer, ExecID and all, comes twice (two queries)
    harness = Harness()
    harness.working_order(qty="100")
    status_answer(harness, "1", "30", "10")

    # Act
    step = status_answer(harness, "1", "30", "10")

    # Assert: our CumQty already says 30
    assert step.sent == []
    assert harness.order().cum_qty == D(30)


# --- the broker's status, after the fill ----------------------------------------------------
def test_a_canceled_answer_with_a_partial_cum_qty_books_the_fill_then_cancels():
    # Arrange
    harness = Harness()
    harness.working_order(qty="100")

    # Act: the broker filled 30 at 10.2, then canceled the rest (unsolicited)
    step = status_answer(harness, "4", "30", "10.2")

    # Assert
    fill, canceled = (tags(m) for m in step.upstream)
    assert (fill[150], fill[39], fill[32], fill[31], fill[151]) == ("F", "1", "30", "10.2", "70")
    assert (canceled[150], canceled[39], canceled[11], canceled[14], canceled[151]) == (
        "4", "4", "C1", "30", "0")
    assert [e.exec_type for e in step.batch.executions] == ["F", "4"]
    assert harness.order().status is OrdStatus.CANCELED


def test_a_canceled_answer_while_our_cancel_is_pending_answers_the_cancel():
    # Arrange: cancel C2 sent; the broker's Canceled was lost with the connection
    harness = Harness()
    harness.pending_cancel()

    # Act
    step = status_answer(harness, "4", "20", "10")

    # Assert: the fill, then the Canceled under the cancel request's ClOrdID
    fill, canceled = (tags(m) for m in step.upstream)
    assert (fill[150], fill[39], fill[32]) == ("F", "6", "20")
    assert (canceled[150], canceled[39], canceled[11], canceled[41]) == ("4", "4", "C2", "C1")


@pytest.mark.parametrize(("ord_status", "status"), [
    ("C", OrdStatus.EXPIRED),
    ("3", OrdStatus.DONE_FOR_DAY),
])
def test_an_expired_or_done_for_day_answer_books_the_fill_then_takes_the_status(
        ord_status, status):
    # Arrange
    harness = Harness()
    harness.working_order(qty="100")

    # Act
    step = status_answer(harness, ord_status, "50", "10")

    # Assert
    fill, held = (tags(m) for m in step.upstream)
    assert (fill[150], fill[32], fill[31]) == ("F", "50", "10")
    assert (held[150], held[39], held[14], held[151]) == (ord_status, ord_status, "50", "0")
    assert harness.order().status is status


def test_a_filled_answer_while_our_cancel_is_pending_books_the_fill_and_refuses_the_cancel():
    # Arrange: cancel C2 sent; the broker filled the order and its reject was lost
    harness = Harness()
    harness.pending_cancel()

    # Act: by FIX's OrdStatus precedence a cancel pending there would show as 6, not 2
    step = status_answer(harness, "2", "100", "10")

    # Assert
    fill, reject = step.upstream
    assert (tags(fill)[150], tags(fill)[39]) == ("F", "6")
    assert reject.msg_type == "9"
    assert (tags(reject)[11], tags(reject)[39], tags(reject)[102]) == ("C2", "2", "0")
    assert harness.order().status is OrdStatus.FILLED


def test_a_working_answer_refuses_a_cancel_it_does_not_show_after_booking_the_fill():
    # Arrange
    harness = Harness()
    harness.pending_cancel()

    # Act
    step = status_answer(harness, "1", "10", "10")

    # Assert
    fill, reject = step.upstream
    assert (tags(fill)[150], tags(fill)[32]) == ("F", "10")
    assert reject.msg_type == "9"
    assert (tags(reject)[11], tags(reject)[39], tags(reject)[102]) == ("C2", "1", "99")
    assert "did not reach the broker" in tags(reject)[58]
    assert harness.order().status is OrdStatus.PARTIALLY_FILLED


def test_a_filled_answer_whose_fill_cannot_be_booked_is_an_error():
    # Arrange
    harness = Harness()
    harness.working_order(qty="100")

    # Act: Filled, but no AvgPx to price the 100
    step = status_answer(harness, "2", "100", None)

    # Assert
    assert step.sent == []
    assert len(step.events("error")) == 2  # the fill not booked; the status not reached
    assert harness.order().status is OrdStatus.NEW


def test_an_answer_under_the_replaces_clordid_confirms_the_replace_then_books_its_fills():
    # Arrange: C1 for 100 working; replace C3 (to 80 @ 10.5) sent as a child of its own;
    # the broker's Replaced report and fills were lost with a reset
    harness = Harness()
    harness.pending_replace(order_qty=D(120))
    replace_child = harness.child("G")

    # Act: the broker answers under the replace's ClOrdID: 120, all filled at 10.5
    step = status_answer(harness, "2", "120", "10.5", cl_ord_id=replace_child,
                         order_qty="120")

    # Assert: Replaced (the new ClOrdID, 38=120), then the fill that filled it
    replaced, filled = [tags(m) for m in step.upstream]
    assert (replaced[150], replaced[39], replaced[11], replaced[41], replaced[38]) == (
        "5", "0", "C3", "C1", "120")
    assert (filled[150], filled[39], filled[32], filled[31], filled[14]) == (
        "F", "2", "120", "10.5", "120")
    assert harness.order("C3").status is OrdStatus.FILLED
    assert step.events("error") == []
