"""CumQty, LeavesQty and AvgPx, computed by hand and compared exactly (Decimal)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from oms.domain.enums import OrdStatus
from oms.domain.errors import InvalidStateTrigger, Overfill, UnknownExecution
from oms.domain.order import PendingRequest, Trigger
from tests.unit.domain.builders import new_order, order_in, replace_request

S = OrdStatus
T = Trigger
D = Decimal


def accepted_order(order_qty: str = "100"):
    order = new_order(order_qty)
    order.apply(T.ACCEPT)
    return order


# --- fills --------------------------------------------------------------------------------
def test_two_partial_fills_give_cum_150_leaves_50_avg_10_1():
    # Arrange
    order = accepted_order("200")

    # Act
    first = order.fill("E1", D(100), D("10.00"))
    second = order.fill("E2", D(50), D("10.30"))

    # Assert
    assert (first, second) == (T.PARTIAL_FILL, T.PARTIAL_FILL)
    assert order.status is S.PARTIALLY_FILLED
    assert order.cum_qty == D(150)
    assert order.leaves_qty == D(50)
    assert order.notional == D("1515.00")
    assert order.avg_px == D("10.1")


def test_fill_of_the_open_quantity_fills_the_order():
    # Arrange
    order = accepted_order("200")
    order.fill("E1", D(100), D("10.00"))

    # Act
    trigger = order.fill("E2", D(100), D("10.20"))

    # Assert
    assert trigger is T.FILL
    assert order.status is S.FILLED
    assert (order.cum_qty, order.leaves_qty, order.avg_px) == (D(200), D(0), D("10.1"))
    assert not order.is_live


def test_avg_px_that_does_not_terminate_is_rounded_to_ten_places():
    # Arrange
    order = accepted_order("3")

    # Act
    order.fill("E1", D(1), D("10.00"))
    order.fill("E2", D(2), D("10.01"))

    # Assert: 30.02 / 3 = 10.00666...
    assert order.avg_px == D("10.0066666667")
    assert order.notional == D("30.02")


def test_fill_keeps_our_and_the_broker_exec_ids():
    # Arrange
    order = accepted_order()

    # Act
    order.fill("E1", D(10), D("10.00"), broker_exec_id="BRK-7")

    # Assert
    booked = order.fills[0]
    assert (booked.exec_id, booked.broker_exec_id, booked.qty, booked.px) == (
        "E1",
        "BRK-7",
        D(10),
        D("10.00"),
    )


# --- overfills and bad fills ----------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "qty", "px", "message"),
    [
        pytest.param(S.NEW, "101", "10", "takes CumQty to 101, above OrderQty 100", id="above-qty"),
        pytest.param(S.PARTIALLY_FILLED, "61", "10", "takes CumQty to 101", id="above-leaves"),
        pytest.param(S.FILLED, "1", "10", "takes CumQty to 101", id="filled-order"),
        pytest.param(S.NEW, "0", "10", "quantity 0 is not positive", id="zero-qty"),
        pytest.param(S.NEW, "-5", "10", "quantity -5 is not positive", id="negative-qty"),
        pytest.param(S.NEW, "5", "-0.01", "price -0.01 is negative", id="negative-px"),
        pytest.param(S.CANCELED, "61", "10", "above OrderQty 100", id="late-fill-canceled"),
    ],
)
def test_bad_fill_raises_overfill_and_leaves_order_unchanged(state, qty, px, message):
    # Arrange
    order = order_in(state)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(Overfill, match=message):
        order.fill("E9", D(qty), D(px))

    # Assert
    assert order == before


def test_fill_at_price_zero_is_booked():
    # Arrange
    order = accepted_order()

    # Act
    order.fill("E1", D(10), D(0))

    # Assert
    assert (order.cum_qty, order.notional, order.avg_px) == (D(10), D(0), D(0))


# --- busts (ExecType H) and corrections (ExecType G) ---------------------------------
def test_bust_reopens_a_filled_order_to_partially_filled_with_the_remaining_avg_px():
    # Arrange: 100 ordered, 40 @ 10.00 and 60 @ 11.00, AvgPx 10.6
    order = order_in(S.FILLED)
    assert order.avg_px == D("10.6")

    # Act
    busted = order.bust("E1")

    # Assert
    assert (busted.exec_id, busted.qty, busted.px) == ("E1", D(40), D("10.00"))
    assert order.status is S.PARTIALLY_FILLED
    assert (order.cum_qty, order.leaves_qty) == (D(60), D(40))
    assert order.notional == D("660.00")
    assert order.avg_px == D(11)
    assert [booked.exec_id for booked in order.fills] == ["E2"]
    assert order.is_live


def test_bust_of_the_only_fill_takes_the_order_back_to_new_with_avg_px_zero():
    # Arrange
    order = order_in(S.PARTIALLY_FILLED)

    # Act
    order.bust("E1")

    # Assert
    assert order.status is S.NEW
    assert (order.cum_qty, order.leaves_qty, order.notional, order.avg_px) == (0, 100, 0, 0)
    assert order.fills == []


def test_bust_can_name_the_broker_exec_id():
    # Arrange
    order = accepted_order()
    order.fill("E1", D(10), D("10.00"), broker_exec_id="BRK-1")
    order.fill("E2", D(20), D("10.30"), broker_exec_id="BRK-2")

    # Act
    busted = order.bust("BRK-2")

    # Assert
    assert busted.exec_id == "E2"
    assert (order.cum_qty, order.avg_px) == (D(10), D("10.00"))


def test_bust_of_an_unknown_exec_id_raises_and_leaves_order_unchanged():
    # Arrange
    order = order_in(S.PARTIALLY_FILLED)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(UnknownExecution, match="no fill with ExecID E404"):
        order.bust("E404")

    # Assert
    assert order == before


def test_correction_changes_quantity_and_price_of_the_fill():
    # Arrange: 100 ordered, 40 @ 10.00
    order = order_in(S.PARTIALLY_FILLED)

    # Act
    old = order.correct("E1", "E1C", D(30), D("10.50"), broker_exec_id="BRK-1C")

    # Assert
    assert (old.exec_id, old.qty, old.px) == ("E1", D(40), D("10.00"))
    assert order.status is S.PARTIALLY_FILLED
    assert (order.cum_qty, order.leaves_qty) == (D(30), D(70))
    assert order.notional == D("315.00")
    assert order.avg_px == D("10.5")
    assert [(f.exec_id, f.broker_exec_id, f.qty, f.px) for f in order.fills] == [
        ("E1C", "BRK-1C", D(30), D("10.50"))
    ]


def test_correction_up_to_order_qty_fills_the_order():
    # Arrange: 100 ordered, 40 @ 10.00
    order = order_in(S.PARTIALLY_FILLED)

    # Act
    order.correct("E1", "E1C", D(100), D("10.00"))

    # Assert
    assert order.status is S.FILLED
    assert (order.cum_qty, order.leaves_qty, order.avg_px) == (D(100), D(0), D(10))


def test_correction_of_price_only_on_a_filled_order_keeps_it_filled_and_moves_avg_px():
    # Arrange: 40 @ 10.00 + 60 @ 11.00
    order = order_in(S.FILLED)

    # Act
    order.correct("E2", "E2C", D(60), D("12.00"))

    # Assert: (400 + 720) / 100
    assert order.status is S.FILLED
    assert order.avg_px == D("11.2")


@pytest.mark.parametrize(
    ("qty", "px", "error", "message"),
    [
        pytest.param("101", "10", Overfill, "correction takes CumQty to 101", id="above-qty"),
        pytest.param("0", "10", Overfill, "corrected fill 0@10 is not valid", id="zero-qty"),
        pytest.param("10", "-1", Overfill, "corrected fill 10@-1 is not valid", id="negative-px"),
    ],
)
def test_bad_correction_raises_and_leaves_order_unchanged(qty, px, error, message):
    # Arrange: 40 @ 10.00 booked, 100 ordered
    order = order_in(S.PARTIALLY_FILLED)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(error, match=message):
        order.correct("E1", "E1C", D(qty), D(px))

    # Assert
    assert order == before


def test_correction_of_an_unknown_exec_id_raises_and_leaves_order_unchanged():
    # Arrange
    order = order_in(S.PARTIALLY_FILLED)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(UnknownExecution):
        order.correct("E404", "E5", D(10), D(10))

    # Assert
    assert order == before


# --- replace --------------------------------------------------------------------------
def test_replace_takes_the_new_terms_and_chains_the_clordids():
    # Arrange: 40 of 100 filled, replace to 150 @ 9.50 pending
    order = order_in(S.PENDING_REPLACE)

    # Act
    status = order.replace()

    # Assert
    assert status is S.PARTIALLY_FILLED
    assert (order.order_qty, order.price) == (D(150), D("9.50"))
    assert (order.cum_qty, order.leaves_qty) == (D(40), D(110))
    assert (order.cl_ord_id, order.orig_cl_ord_id, order.child.cl_ord_id) == ("C2", "C1", "K2")
    assert order.pending is None


def test_operator_replace_keeps_the_client_clordid():
    # Arrange
    order = order_in(S.NEW)
    order.request(
        PendingRequest(
            kind="replace",
            cl_ord_id="",
            orig_cl_ord_id="C1",
            child_cl_ord_id="K2",
            price=D("9.90"),
            operator=True,
        )
    )

    # Act
    order.replace()

    # Assert
    assert (order.cl_ord_id, order.orig_cl_ord_id, order.child.cl_ord_id) == ("C1", "", "K2")
    assert (order.order_qty, order.price) == (D(100), D("9.90"))
    assert order.status is S.NEW


def test_replace_lowering_quantity_to_cum_qty_fills_the_order():
    # Arrange: 40 of 100 filled
    order = order_in(S.PARTIALLY_FILLED)
    order.request(replace_request("40"))

    # Act
    status = order.replace()

    # Assert
    assert status is S.FILLED
    assert (order.order_qty, order.cum_qty, order.leaves_qty) == (D(40), D(40), D(0))
    assert not order.is_live


def test_replace_confirmed_without_a_quantity_below_cum_qty_amends_order_qty_to_cum_qty():
    # Arrange: 40 of 100 filled, a replace to 39 pending (#16, Appendix D C.3.c)
    order = order_in(S.PARTIALLY_FILLED)
    order.request(replace_request("39"))

    # Act
    status = order.replace()

    # Assert
    assert status is S.FILLED
    assert (order.order_qty, order.cum_qty, order.leaves_qty) == (D(40), D(40), D(0))
    assert order.price == D("9.50")  # the replace's other terms are taken


def test_replace_takes_the_broker_quantity_over_the_requested_one():
    # Arrange: 40 of 100 filled, a replace to 39 pending; the broker works 45 (#16)
    order = order_in(S.PARTIALLY_FILLED)
    order.request(replace_request("39"))

    # Act
    status = order.replace(D(45))

    # Assert
    assert status is S.PARTIALLY_FILLED
    assert (order.order_qty, order.cum_qty, order.leaves_qty) == (D(45), D(40), D(5))
    assert (order.price, order.cl_ord_id) == (D("9.50"), "C2")


def test_replace_of_price_only_takes_the_broker_quantity():
    # Arrange: 40 of 100 filled, a replace of the price only
    order = order_in(S.PARTIALLY_FILLED)
    order.request(
        PendingRequest(
            kind="replace", cl_ord_id="C2", orig_cl_ord_id="C1", child_cl_ord_id="K2",
            price=D("9.90"),
        )
    )

    # Act
    order.replace(D(90))

    # Assert
    assert (order.order_qty, order.price, order.leaves_qty) == (D(90), D("9.90"), D(50))


@pytest.mark.parametrize(
    ("broker_qty", "words"),
    [("39", "OrderQty 39, below CumQty 40"), ("0", "OrderQty 0, which is not positive")],
    ids=["below CumQty", "zero"],
)
def test_replace_with_a_broker_quantity_below_cum_qty_raises_overfill_and_leaves_order_unchanged(
    broker_qty, words
):
    # Arrange: 40 of 100 filled, a replace to 150 pending
    order = order_in(S.PENDING_REPLACE)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(Overfill, match=words):
        order.replace(D(broker_qty))

    # Assert
    assert order == before
    assert order.status is S.PENDING_REPLACE


def test_replace_while_a_cancel_is_pending_is_refused():
    # Arrange
    order = order_in(S.PENDING_CANCEL)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(InvalidStateTrigger, match="PENDING_CANCEL -> REPLACE"):
        order.replace()

    # Assert
    assert order == before


# --- restate --------------------------------------------------------------------------
def test_restate_with_a_new_quantity_changes_leaves():
    # Arrange: 40 of 100 filled
    order = order_in(S.PARTIALLY_FILLED)

    # Act
    order.restate(D(80))

    # Assert
    assert order.status is S.PARTIALLY_FILLED
    assert (order.order_qty, order.leaves_qty) == (D(80), D(40))


def test_restate_down_to_cum_qty_fills_the_order():
    # Arrange
    order = order_in(S.PARTIALLY_FILLED)

    # Act
    order.restate(D(40))

    # Assert
    assert order.status is S.FILLED
    assert order.leaves_qty == 0


# --- cancels --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "cum_qty"),
    [(S.PENDING_NEW, D(0)), (S.NEW, D(0)), (S.PARTIALLY_FILLED, D(40))],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_unsolicited_cancel_ends_the_order_and_keeps_what_was_filled(state, cum_qty):
    # Arrange
    order = order_in(state)

    # Act
    order.apply(T.CANCEL)

    # Assert
    assert order.status is S.CANCELED
    assert (order.cum_qty, order.leaves_qty) == (cum_qty, D(0))
    assert not order.is_live


def test_late_fill_after_cancel_keeps_canceled_and_raises_cum_qty():
    # Arrange: 40 @ 10.00 of 100, then canceled
    order = order_in(S.CANCELED)

    # Act
    trigger = order.fill("E9", D(10), D("10.50"))

    # Assert: (400 + 105) / 50
    assert trigger is T.PARTIAL_FILL
    assert order.status is S.CANCELED
    assert (order.cum_qty, order.leaves_qty) == (D(50), D(0))
    assert order.avg_px == D("10.1")


def test_fill_while_pending_cancel_keeps_pending_cancel_and_the_request():
    # Arrange: 40 of 100 filled, cancel pending
    order = order_in(S.PENDING_CANCEL)
    request = order.pending

    # Act
    order.fill("E9", D(60), D("10.00"))

    # Assert
    assert order.status is S.PENDING_CANCEL
    assert (order.cum_qty, order.leaves_qty) == (D(100), D(0))
    assert order.pending is request


# --- LeavesQty by status --------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "leaves_qty"),
    [
        (S.PENDING_NEW, D(100)),
        (S.NEW, D(100)),
        (S.PARTIALLY_FILLED, D(60)),
        (S.FILLED, D(0)),
        (S.PENDING_CANCEL, D(60)),
        (S.PENDING_REPLACE, D(60)),
        (S.SUSPENDED, D(100)),
        (S.STOPPED, D(100)),
        # no longer working: LeavesQty is 0 whatever was left open (40 of 100 filled)
        (S.CANCELED, D(0)),
        (S.EXPIRED, D(0)),
        (S.REJECTED, D(0)),
        (S.DONE_FOR_DAY, D(0)),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_leaves_qty_by_status(state, leaves_qty):
    # Arrange
    order = order_in(state)

    # Act
    leaves = order.leaves_qty

    # Assert
    assert leaves == leaves_qty


# --- once domain bugs, now the behaviour FIX expects ------------------------------------
@pytest.mark.parametrize("px", ["10", "100", "20.00"])
def test_avg_px_prints_without_exponent(px):
    # Arrange
    order = accepted_order()

    # Act
    order.fill("E1", D(10), D(px))

    # Assert
    assert "E" not in str(order.avg_px)
    assert order.avg_px == D(px)


@pytest.mark.parametrize("path", ["fill-then-bust", "replace-confirmed"])
def test_order_the_broker_traded_or_replaced_is_never_pending_new_again(path):
    # Arrange: the broker fills (or replaces) before sending ExecType=New
    order = new_order()
    if path == "fill-then-bust":
        order.fill("E1", D(40), D("10.00"))

        # Act
        order.bust("E1")
    else:
        order.request(replace_request("150"))

        # Act
        order.replace()

    # Assert: the broker has the order working; PendingNew means "not yet accepted"
    assert order.status is S.NEW
