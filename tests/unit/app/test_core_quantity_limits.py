"""#16: quantities and prices with more digits than ``max_digits`` are refused, wherever
they come from: a NewOrderSingle, an OrderCancelReplaceRequest, a broker ExecutionReport."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.domain.enums import OrdStatus
from oms.domain.numbers import plain_digits, too_many_digits
from tests.unit.app.harness import Harness, replace_order, submit_order

D = Decimal
FORTY_NINES = "9" * 40

# value, digits written out plainly (integer and fraction digits), counted by hand
DIGIT_COUNTS = {
    "15 nines": ("999999999999999", 15),
    "16 nines": ("9999999999999999", 16),
    "one and a half": ("1.5", 2),
    "15 fraction digits": ("0.000000000000001", 15),
    "16 fraction digits": ("0.0000000000000001", 16),
    "1E+30": ("1E+30", 31),
    "9 and 6": ("123456789.123456", 15),
    "trailing zeros count": ("100.50", 5),
    "negative": ("-12.5", 3),
    "zero": ("0", 1),
    "zero with an exponent": ("0E+5", 1),
    "forty nines": (FORTY_NINES, 40),
}


@pytest.mark.parametrize(("text", "digits"), list(DIGIT_COUNTS.values()), ids=list(DIGIT_COUNTS))
def test_plain_digits_counts_integer_and_fraction_digits(text, digits):
    # Arrange
    value = D(text)

    # Act
    counted = plain_digits(value)

    # Assert
    assert counted == digits


# value, within a limit of 15
WITHIN_15 = {
    "15 nines": ("999999999999999", True),
    "16 nines": ("9999999999999999", False),
    "one and a half": ("1.5", True),
    "15 fraction digits": ("0.000000000000001", True),
    "16 fraction digits": ("0.0000000000000001", False),
    "1E+30": ("1E+30", False),
    "1E-7 (str writes an exponent)": ("1E-7", True),
    "9 and 6 (16 characters)": ("123456789.123456", True),
    "9 and 7": ("123456789.1234567", False),
}


@pytest.mark.parametrize(("text", "within"), list(WITHIN_15.values()), ids=list(WITHIN_15))
def test_too_many_digits_against_a_limit_of_15(text, within):
    # Act
    refused = too_many_digits(D(text), 15)

    # Assert
    assert refused is not within


# --- NewOrderSingle ------------------------------------------------------------------------
def test_order_quantity_of_forty_nines_is_rejected_naming_the_limit_and_not_routed():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(submit_order("C1", order_qty=D(FORTY_NINES), price=D(10)))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[103]) == ("8", "8", "13")
    assert report[58] == "OrderQty (38) has more than 15 significant digits"
    assert (report[151], report[14]) == ("0", "0")
    assert step.to_broker == []


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"price": D("10.1234567890123456")}, "Price (44) has more than 15 significant digits"),
        (
            {"ord_type": "4", "stop_px": D("1E+20")},
            "StopPx (99) has more than 15 significant digits",
        ),
    ],
    ids=["Price", "StopPx"],
)
def test_order_price_with_too_many_digits_is_rejected_as_other(fields, text):
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(submit_order("C1", **fields))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[103], report[58]) == ("8", "8", "99", text)
    assert step.to_broker == []


def test_the_limit_comes_from_the_settings():
    # Arrange
    harness = Harness(max_digits=4)

    # Act
    refused = harness.run(submit_order("C1", order_qty=D("12345")))
    accepted = harness.run(submit_order("C2", order_qty=D("1234"), price=D("9.5")))

    # Assert
    assert refused.only_upstream("8")[58] == "OrderQty (38) has more than 4 significant digits"
    assert accepted.only_to_broker("D")[38] == "1234"


# --- OrderCancelReplaceRequest ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"order_qty": D("1E+16")}, "OrderQty (38) has more than 15 significant digits"),
        ({"price": D("0.0000000000000001")}, "Price (44) has more than 15 significant digits"),
    ],
    ids=["OrderQty", "Price"],
)
def test_replace_with_too_many_digits_is_refused_and_not_sent(fields, text):
    # Arrange
    harness = Harness()
    harness.working_order()

    # Act
    step = harness.run(replace_order("C3", "C1", **fields))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[39], reject[434], reject[102], reject[58]) == (
        "C3",
        "C1",
        "0",
        "2",
        "99",
        text,
    )
    assert step.to_broker == []
    assert harness.order("C1").status is OrdStatus.NEW


# --- broker ExecutionReports ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("exec_type", "values", "name"),
    [
        ("F", {"last_qty": FORTY_NINES, "last_px": "10"}, "LastQty (32)"),
        ("F", {"last_qty": "10", "last_px": "10.0000000000000001"}, "LastPx (31)"),
        ("F", {"last_qty": "10", "last_px": "10", "cum_qty": "1E+30"}, "CumQty (14)"),
        ("D", {"order_qty": FORTY_NINES}, "OrderQty (38)"),
    ],
    ids=["LastQty", "LastPx", "CumQty", "OrderQty"],
)
def test_broker_report_with_too_many_digits_is_journaled_as_an_error_and_changes_nothing(
    exec_type, values, name
):
    # Arrange
    harness = Harness()
    order = harness.working_order()
    version = order.version

    # Act
    step = harness.broker(exec_type, **values)

    # Assert
    assert step.upstream == []
    [error] = step.events("error")
    assert f"{name} has more than 15 significant digits" in error.body
    assert (order.status, order.order_qty, order.cum_qty, order.version) == (
        OrdStatus.NEW,
        D(100),
        D(0),
        version,
    )
