"""The order state table: every row it holds, and every move it does not allow."""

from __future__ import annotations

import copy

import pytest

from oms.domain.enums import OrdStatus
from oms.domain.errors import InvalidStateTrigger
from oms.domain.order import FILL_TRIGGERS, RESUME, TRANSITIONS, Trigger, next_status
from tests.unit.domain.builders import (
    ORDER_ID,
    cancel_request,
    drive,
    new_order,
    order_in,
    status_implied_by_quantities,
)

S = OrdStatus
T = Trigger

LEGAL_ROWS = [
    pytest.param(state, trigger, target, id=f"{state.name}-{trigger.name}")
    for (state, trigger), target in TRANSITIONS.items()
]
ILLEGAL_MOVES = [
    pytest.param(state, trigger, id=f"{state.name}-{trigger.name}")
    for state in OrdStatus
    for trigger in Trigger
    if (state, trigger) not in TRANSITIONS
]

# The ack and the order reject race a request the client sent before the broker
# acknowledged the order, so those rows start from a request sent over PendingNew.
PENDING_OVER = {
    (S.PENDING_CANCEL, T.ACCEPT): S.PENDING_NEW,
    (S.PENDING_REPLACE, T.ACCEPT): S.PENDING_NEW,
    (S.PENDING_CANCEL, T.REJECT): S.PENDING_NEW,
    (S.PENDING_REPLACE, T.REJECT): S.PENDING_NEW,
}


def attempt(order, trigger: Trigger) -> None:
    """Try ``trigger`` through its public method.

    A Filled order has CumQty == OrderQty, so ``Order.fill`` refuses any fill as an
    overfill before it reaches the table; for that pair the table is asked directly.
    """
    if order.status is S.FILLED and trigger in FILL_TRIGGERS:
        order.check(trigger)
    else:
        drive(order, trigger)


@pytest.mark.parametrize(("state", "trigger", "target"), LEGAL_ROWS)
def test_each_table_row_moves_the_order_to_its_target(state, trigger, target):
    # Arrange
    order = order_in(state, over=PENDING_OVER.get((state, trigger), S.PARTIALLY_FILLED))
    version = order.version

    # Act
    applied = drive(order, trigger)

    # Assert
    expected = status_implied_by_quantities(order) if target is RESUME else target
    assert applied is trigger
    assert order.status is expected
    assert order.version == version + 1
    assert (order.pending is not None) == expected.is_pending_request


# Hand-computed outcomes of the rows that resume, for the orders the builder makes:
# 100 ordered, E1 40 @ 10.00 booked (Filled adds E2 60 @ 11.00); the bust removes E1,
# the correction turns E1 into 30 @ 10.50; the replace asks for 150.
RESUME_OUTCOMES = [
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED, T.CANCEL_REJECT, S.PARTIALLY_FILLED),
    (S.PENDING_CANCEL, S.NEW, T.CANCEL_REJECT, S.NEW),
    (S.PENDING_CANCEL, S.PENDING_NEW, T.CANCEL_REJECT, S.PENDING_NEW),
    (S.PENDING_REPLACE, S.PARTIALLY_FILLED, T.REPLACE_REJECT, S.PARTIALLY_FILLED),
    (S.PENDING_REPLACE, S.NEW, T.REPLACE_REJECT, S.NEW),
    (S.PENDING_REPLACE, S.PARTIALLY_FILLED, T.REPLACE, S.PARTIALLY_FILLED),
    (S.PENDING_REPLACE, S.NEW, T.REPLACE, S.NEW),
    (S.SUSPENDED, None, T.RESTATE, S.NEW),
    (S.NEW, None, T.RESTATE, S.NEW),
    (S.PARTIALLY_FILLED, None, T.RESTATE, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, None, T.TRADE_CANCEL, S.NEW),
    (S.FILLED, None, T.TRADE_CANCEL, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, None, T.TRADE_CORRECT, S.PARTIALLY_FILLED),
    (S.FILLED, None, T.TRADE_CORRECT, S.PARTIALLY_FILLED),
]


@pytest.mark.parametrize(
    ("state", "over", "trigger", "expected"),
    [
        pytest.param(*row, id=f"{row[0].name}{'/' + row[1].name if row[1] else ''}-{row[2].name}")
        for row in RESUME_OUTCOMES
    ],
)
def test_resume_rows_land_on_the_status_the_quantities_imply(state, over, trigger, expected):
    # Arrange
    order = order_in(state, over=over or S.PARTIALLY_FILLED)

    # Act
    drive(order, trigger)

    # Assert
    assert TRANSITIONS[(state, trigger)] is RESUME
    assert order.status is expected
    assert order.pending is None


@pytest.mark.parametrize(("state", "trigger"), ILLEGAL_MOVES)
def test_move_not_in_table_raises_and_leaves_order_unchanged(state, trigger):
    # Arrange
    order = order_in(state)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(InvalidStateTrigger) as raised:
        attempt(order, trigger)

    # Assert
    assert str(raised.value) == f"{state.name} -> {trigger.name} (order {ORDER_ID})"
    assert (raised.value.state, raised.value.trigger) == (state.name, trigger.name)
    assert raised.value.order_id == ORDER_ID
    assert order == before


@pytest.mark.parametrize(("state", "trigger"), ILLEGAL_MOVES)
def test_next_status_refuses_a_move_not_in_table(state, trigger):
    # Act
    with pytest.raises(InvalidStateTrigger) as raised:
        next_status(state, trigger)

    # Assert
    assert str(raised.value) == f"{state.name} -> {trigger.name}"


@pytest.mark.parametrize(("state", "trigger", "target"), LEGAL_ROWS)
def test_next_status_reads_the_row(state, trigger, target):
    assert next_status(state, trigger) is target


@pytest.mark.parametrize(("state", "trigger", "target"), LEGAL_ROWS)
def test_check_accepts_a_row_and_changes_nothing(state, trigger, target):
    # Arrange
    order = order_in(state)
    before = copy.deepcopy(order)

    # Act
    order.check(trigger)

    # Assert
    assert order == before


@pytest.mark.parametrize(
    "trigger",
    [T.PARTIAL_FILL, T.FILL, T.TRADE_CANCEL, T.TRADE_CORRECT, T.REPLACE],
    ids=lambda trigger: trigger.name,
)
def test_apply_refuses_triggers_that_carry_quantities(trigger):
    # Arrange
    order = order_in(S.PENDING_REPLACE)
    before = copy.deepcopy(order)

    # Act
    with pytest.raises(ValueError, match=f"{trigger.name} carries quantities"):
        order.apply(trigger)

    # Assert
    assert order == before


def test_every_status_is_reachable_from_pending_new_through_the_table():
    # Arrange: RESUME can land on any working status.
    working = {S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED, S.FILLED}
    reached = {S.PENDING_NEW}
    frontier = [S.PENDING_NEW]

    # Act
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is not state:
                continue
            for landing in working if target is RESUME else {target}:
                if landing not in reached:
                    reached.add(landing)
                    frontier.append(landing)

    # Assert
    assert reached == set(OrdStatus)


def test_rejected_is_a_dead_end():
    assert [key for key in TRANSITIONS if key[0] is S.REJECTED] == []


def test_a_fresh_order_is_pending_new_with_nothing_filled():
    # Act
    order = new_order()

    # Assert
    assert order.status is S.PENDING_NEW
    assert (order.cum_qty, order.leaves_qty, order.avg_px, order.version) == (0, 100, 0, 0)
    assert not order.accepted
    assert order.is_live


def test_illegal_move_message_names_state_trigger_and_order():
    # Arrange
    order = order_in(S.FILLED)

    # Act
    with pytest.raises(InvalidStateTrigger) as raised:
        order.request(cancel_request())

    # Assert
    assert str(raised.value) == "FILLED -> CANCEL_REQUEST (order O1)"
