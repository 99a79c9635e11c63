"""OrderCancelReplaceRequest: the child replace, the broker's answers, and our refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.domain.enums import OrdStatus
from tests.unit.app.harness import (
    Harness,
    broker_cancel_reject,
    cancel_order,
    replace_order,
    submit_order,
    tags,
)

D = Decimal


def test_replace_request_sends_a_child_replace_naming_the_current_child():
    # Arrange
    harness = Harness()
    harness.working_order(filled="30")
    child = harness.child("D")

    # Act
    step = harness.run(replace_order("C3", "C1", order_qty=D(80), price=D("10.5")))

    # Assert
    replace = step.only_to_broker("G")
    assert replace[41] == child
    assert replace[11] not in (child, "C3", "C1")
    assert replace[37] == "BRK-1"
    assert (replace[38], replace[44], replace[40], replace[55], replace[54], replace[1]) == (
        "80",
        "10.5",
        "2",
        "ACME",
        "1",
        "ACC1",
    )
    assert step.upstream == []
    assert harness.order().status is OrdStatus.PENDING_REPLACE
    # the order keeps its terms until the broker confirms
    assert (harness.order().order_qty, harness.order().price) == (D(100), D(10))


def test_broker_replaced_is_reported_with_the_new_terms_and_leaves_from_them():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30", order_qty=D(80), price=D("10.5"))

    # Act
    step = harness.broker("5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[41]) == ("5", "1", "C3", "C1")
    assert (report[38], report[44], report[151], report[14], report[6]) == (
        "80",
        "10.5",
        "50",
        "30",
        "10",
    )
    snapshot = step.batch.orders["O0-1"]
    assert (snapshot.cl_ord_id, snapshot.orig_cl_ord_id, snapshot.order_qty) == ("C3", "C1", D(80))
    child_row = step.batch.children[harness.child("D")]  # #17: a child keeps its first id
    assert (child_row.cl_ord_id, child_row.prior_cl_ord_ids) == (harness.child("G"),
                                                                 harness.child("D"))


def test_fills_for_the_replaced_child_still_reach_the_order():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30", order_qty=D(80), price=D("10.5"))
    new_child = harness.child("G")
    harness.broker("5", cl_ord_id=new_child, orig_cl_ord_id=harness.child("D"))

    # Act
    step = harness.fill("50", "10.5", cl_ord_id=new_child)

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[37]) == ("F", "2", "C3", "O0-1")
    assert (report[14], report[151], report[6]) == ("80", "0", "10.3125")
    assert 41 not in report


def test_replace_down_to_the_filled_quantity_leaves_the_order_filled():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30", order_qty=D(30))

    # Act
    step = harness.broker("5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[38], report[14], report[151]) == (
        "5",
        "2",
        "30",
        "30",
        "0",
    )
    assert harness.order().status is OrdStatus.FILLED


def test_broker_replaced_with_its_quantity_raised_to_cum_qty_fills_the_order():
    # Arrange: 10000, a replace to 7000 sent, then a fill of 8000 on the old terms (#16)
    harness = Harness()
    harness.working_order(qty="10000")
    harness.run(replace_order("C3", "C1", order_qty=D(7000), price=D(10)))
    harness.fill("8000", "10", ord_status="1", cum_qty="8000")

    # Act: the broker confirms with OrderQty raised to CumQty (Appendix D C.3.c)
    step = harness.broker(
        "5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"),
        ord_status="2", order_qty="8000", cum_qty="8000",
    )

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[41]) == ("5", "2", "C3", "C1")
    assert (report[38], report[151], report[14]) == ("8000", "0", "8000")
    order = harness.order("C3")
    assert (order.status, order.order_qty, order.cl_ord_id) == (OrdStatus.FILLED, D(8000), "C3")
    assert step.events("error") == []


def test_broker_replaced_quantity_stands_over_the_requested_one():
    # Arrange: 30 filled, a replace to 80 sent
    harness = Harness()
    harness.pending_replace(filled="30", order_qty=D(80), price=D("10.5"))

    # Act: the broker works 90
    step = harness.broker(
        "5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"), order_qty="90"
    )

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[38], report[44], report[151]) == (
        "5",
        "1",
        "90",
        "10.5",
        "60",
    )


def test_broker_replaced_without_quantity_below_cum_qty_takes_cum_qty():
    # Arrange: 10000, a replace to 7000 sent, then a fill of 8000 (#16)
    harness = Harness()
    harness.working_order(qty="10000")
    harness.run(replace_order("C3", "C1", order_qty=D(7000), price=D(10)))
    harness.fill("8000", "10", ord_status="1")

    # Act: the Replaced report carries no OrderQty
    step = harness.broker("5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))

    # Assert: Appendix D C.3.c, OrderQty amended to CumQty
    report = step.only_upstream("8")
    assert (report[150], report[39], report[38], report[151], report[14]) == (
        "5",
        "2",
        "8000",
        "0",
        "8000",
    )


def test_broker_replaced_with_a_quantity_below_cum_qty_is_refused_and_the_order_kept():
    # Arrange: 10000, a replace to 7000 sent, then a fill of 8000 (#16)
    harness = Harness()
    harness.working_order(qty="10000")
    harness.run(replace_order("C3", "C1", order_qty=D(7000), price=D(10)))
    harness.fill("8000", "10", ord_status="1")

    # Act: the broker says it works 7000, less than it has filled
    step = harness.broker(
        "5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"), order_qty="7000"
    )

    # Assert
    assert step.upstream == []
    [error] = step.events("error")
    assert "OrderQty 7000, below CumQty 8000" in error.body
    order = harness.order("C1")
    assert (order.status, order.order_qty, order.cl_ord_id) == (
        OrdStatus.PENDING_REPLACE,
        D(10000),
        "C1",
    )


def test_broker_pending_replace_is_reported_with_the_replace_cl_ord_ids():
    # Arrange
    harness = Harness()
    harness.pending_replace()

    # Act
    step = harness.broker("E", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[41]) == ("E", "E", "C3", "C1")
    assert (report[38], report[151]) == ("100", "100")  # old terms until replaced


def test_broker_replace_reject_is_relayed_and_the_order_keeps_its_terms():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30")

    # Act
    step = harness.run(
        broker_cancel_reject(
            harness.child("G"), harness.child("D"), response_to="2", reason="2", text="No"
        )
    )

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[434], reject[102], reject[39]) == (
        "C3",
        "C1",
        "2",
        "2",
        "1",
    )
    order = harness.order("C1")
    assert (order.status, order.order_qty, order.price, order.cl_ord_id) == (
        OrdStatus.PARTIALLY_FILLED,
        D(100),
        D(10),
        "C1",
    )


def test_unsolicited_cancel_while_a_replace_is_pending_rejects_the_replace_and_cancels():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30")

    # Act
    step = harness.broker("4", cl_ord_id=harness.child("D"))

    # Assert
    assert sorted(m.msg_type for m in step.upstream) == ["8", "9"]
    reject = next(tags(m) for m in step.upstream if m.msg_type == "9")
    report = next(tags(m) for m in step.upstream if m.msg_type == "8")
    assert (reject[11], reject[41], reject[434], reject[102]) == ("C3", "C1", "2", "0")
    assert (report[150], report[39], report[11], report[14], report[151]) == (
        "4",
        "4",
        "C1",
        "30",
        "0",
    )
    assert 41 not in report
    assert harness.order().status is OrdStatus.CANCELED


def test_replace_rejected_by_an_unsolicited_cancel_reports_the_order_canceled():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30")

    # Act
    step = harness.broker("4", cl_ord_id=harness.child("D"))

    # Assert
    reject = next(tags(m) for m in step.upstream if m.msg_type == "9")
    assert reject[39] == "4"


def test_cancel_after_a_replace_names_the_replacement_child():
    # Arrange
    harness = Harness()
    harness.pending_replace()
    new_child = harness.child("G")
    harness.broker("5", cl_ord_id=new_child, orig_cl_ord_id=harness.child("D"))

    # Act
    step = harness.run(cancel_order("C4", "C3"))

    # Assert
    assert step.only_to_broker("F")[41] == new_child


def test_second_replace_in_the_chain_names_the_first_replacement():
    # Arrange
    harness = Harness()
    harness.pending_replace(filled="30", order_qty=D(80), price=D("10.5"))
    harness.broker("5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))
    first_replacement_child = harness.child("G")

    # Act: raise the quantity again, price unchanged
    sent = harness.run(replace_order("C5", "C3", order_qty=D(120), price=None))
    confirmed = harness.broker(
        "5", cl_ord_id=harness.child("G"), orig_cl_ord_id=first_replacement_child
    )

    # Assert
    replace = sent.only_to_broker("G")
    assert (replace[41], replace[38], replace[44]) == (first_replacement_child, "120", "10.5")
    report = confirmed.only_upstream("8")
    assert (report[11], report[41], report[38], report[44], report[151], report[39]) == (
        "C5",
        "C3",
        "120",
        "10.5",
        "90",
        "1",
    )


# --- refusals by us -------------------------------------------------------------------------
def test_replace_below_the_filled_quantity_is_refused_naming_the_quantities():
    # Arrange
    harness = Harness()
    harness.working_order(filled="60")

    # Act
    step = harness.run(replace_order("C3", "C1", order_qty=D(50)))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[434], reject[39]) == ("C3", "C1", "2", "1")
    assert "50" in reject[58] and "60" in reject[58]
    assert step.to_broker == []
    assert harness.order().status is OrdStatus.PARTIALLY_FILLED


REFUSED_REPLACES = {
    "quantity zero": ({"order_qty": D(0)}, "OrderQty (38) must be positive"),
    "price zero": ({"price": D(0)}, "Price (44) must be positive"),
    "unknown OrdType": ({"ord_type": "Z"}, "OrdType (40)"),
}


@pytest.mark.parametrize(
    ("fields", "words"), list(REFUSED_REPLACES.values()), ids=list(REFUSED_REPLACES)
)
def test_invalid_replace_is_refused_and_not_sent(fields, words):
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.run(replace_order("C3", "C1", **fields))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[434], reject[39]) == ("2", "0")
    assert words in reject[58]
    assert step.to_broker == []


def test_replace_of_an_unknown_order_is_refused_as_unknown():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(replace_order("C3", "NOPE"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[37], reject[39], reject[434], reject[102]) == ("NONE", "8", "2", "1")


@pytest.mark.parametrize(
    ("harness_settings", "order_fields"),
    [
        ({"route_account": "HOUSE"}, {"account": ""}),
        ({"destinations": {"XNAS": "SIM"}}, {"ex_destination": "XNAS"}),
    ],
    ids=["route account", "ExDestination"],
)
def test_child_replace_repeats_the_unchanged_fields_of_the_child_order(
    harness_settings, order_fields
):
    # Arrange
    harness = Harness(**harness_settings)
    harness.run(submit_order("C1", **order_fields))
    harness.ack()
    child_new = harness.last_to_broker("D")

    # Act
    step = harness.run(replace_order("C3", "C1", order_qty=D(80), price=D("10.5")))

    # Assert
    child_replace = step.only_to_broker("G")
    changed = {11, 41, 37, 60, 38, 44}
    unchanged = {tag: value for tag, value in child_new.items() if tag not in changed}
    assert {tag: child_replace.get(tag) for tag in unchanged} == unchanged
