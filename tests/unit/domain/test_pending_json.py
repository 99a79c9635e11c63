"""pending_to_json / pending_from_json: the pending request as the blotter stores it."""

from __future__ import annotations

import json
from decimal import Decimal

import hypothesis.strategies as st
import pytest
from hypothesis import given

from oms.domain.enums import OrdType, TimeInForce
from oms.domain.order import PendingRequest, pending_from_json, pending_to_json

D = Decimal

OPERATOR_CANCEL = PendingRequest(
    kind="cancel", cl_ord_id="", orig_cl_ord_id="C1", child_cl_ord_id="K2", operator=True
)
FULL_REPLACE = PendingRequest(
    kind="replace",
    cl_ord_id="C2",
    orig_cl_ord_id="C1",
    child_cl_ord_id="K2",
    order_qty=D("150"),
    price=D("0.10"),
    stop_px=D("0.0500"),
    ord_type=OrdType.STOP_LIMIT,
    time_in_force=TimeInForce.GTC,
)


@pytest.mark.parametrize(
    "request_",
    [OPERATOR_CANCEL, FULL_REPLACE],
    ids=["operator-cancel-all-optionals-none", "replace-every-field"],
)
def test_pending_request_survives_a_round_trip(request_):
    # Act
    restored = pending_from_json(pending_to_json(request_))

    # Assert
    assert restored == request_


def test_decimals_keep_their_exact_digits_through_json():
    # Act
    restored = pending_from_json(pending_to_json(FULL_REPLACE))

    # Assert: Decimal("0.10") == Decimal("0.1"), so compare the digits too
    assert (str(restored.price), str(restored.stop_px), str(restored.order_qty)) == (
        "0.10",
        "0.0500",
        "150",
    )


def test_json_carries_decimals_as_strings_and_enums_as_fix_values():
    # Act
    data = json.loads(pending_to_json(FULL_REPLACE))

    # Assert
    assert data["price"] == "0.10"
    assert data["order_qty"] == "150"
    assert (data["ord_type"], data["time_in_force"]) == ("4", "1")


def test_missing_optionals_are_written_as_null():
    # Act
    data = json.loads(pending_to_json(OPERATOR_CANCEL))

    # Assert
    assert [data[key] for key in ("order_qty", "price", "stop_px", "ord_type")] == [None] * 4
    assert data["time_in_force"] is None
    assert data["operator"] is True


def test_no_pending_request_is_the_empty_string_both_ways():
    assert pending_to_json(None) == ""
    assert pending_from_json("") is None


def test_json_without_operator_key_reads_as_client_request():
    # Arrange: written before the operator flag existed
    text = '{"kind":"cancel","cl_ord_id":"C2","orig_cl_ord_id":"C1","child_cl_ord_id":"K2"}'

    # Act
    restored = pending_from_json(text)

    # Assert
    assert restored == PendingRequest(
        kind="cancel", cl_ord_id="C2", orig_cl_ord_id="C1", child_cl_ord_id="K2"
    )


FINITE_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
PENDING_REQUESTS = st.builds(
    PendingRequest,
    kind=st.sampled_from(["cancel", "replace"]),
    cl_ord_id=st.text(),
    orig_cl_ord_id=st.text(),
    child_cl_ord_id=st.text(),
    order_qty=st.none() | FINITE_DECIMALS,
    price=st.none() | FINITE_DECIMALS,
    stop_px=st.none() | FINITE_DECIMALS,
    ord_type=st.none() | st.sampled_from(OrdType),
    time_in_force=st.none() | st.sampled_from(TimeInForce),
    operator=st.booleans(),
)


@given(request_=PENDING_REQUESTS)
def test_any_pending_request_round_trips_exactly(request_):
    # Act
    restored = pending_from_json(pending_to_json(request_))

    # Assert
    assert restored == request_
    for name in ("order_qty", "price", "stop_px"):
        assert str(getattr(restored, name)) == str(getattr(request_, name))
