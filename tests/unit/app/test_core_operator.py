"""Operator cancel from the admin interface: a reply on a Future, an unsolicited cancel."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from oms.app.commands import OperatorCancel
from oms.domain.enums import OrdStatus
from tests.unit.app.harness import (
    BROKER,
    Harness,
    HoldingJournal,
    broker_cancel_reject,
    cancel_order,
    submit_order,
)


def operator_cancel(order_id: str = "O0-1") -> OperatorCancel:
    return OperatorCancel(order_id=order_id, reply=Future())


def test_operator_cancel_sends_a_child_cancel_and_replies_ok():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")
    command = operator_cancel()

    # Act
    step = harness.run(command)

    # Assert
    assert command.reply.result(timeout=0) == {
        "ok": True,
        "order_id": "O0-1",
        "status": "PENDING_CANCEL",
    }
    cancel = step.only_to_broker("F")
    assert cancel[41] == harness.child("D")
    assert step.upstream == []
    [admin] = step.events("admin")
    assert admin.order_id == "O0-1"
    assert harness.order().status is OrdStatus.PENDING_CANCEL
    # no inbound message caused it, so the state change has a row of its own
    [transition] = step.events("transition")
    assert (transition.order_id, transition.msg_type, transition.body) == (
        "O0-1", "CANCEL_REQUEST", "PARTIALLY_FILLED -> PENDING_CANCEL")


def test_operator_cancel_replies_only_after_commit():
    # Arrange
    journal = HoldingJournal()
    harness = Harness(journal=journal)
    harness.run(submit_order("C1"))
    journal.commit()
    harness.ack()
    journal.commit()
    command = operator_cancel()

    # Act
    harness.run(command)

    # Assert
    assert not command.reply.done()
    journal.commit()
    assert command.reply.result(timeout=0)["ok"] is True
    assert harness.sender.sent[-1].msg_type == "F"


def test_operator_cancel_confirmed_by_the_broker_is_unsolicited_upstream():
    # Arrange
    harness = Harness()
    harness.working_order(filled="40")
    harness.run(operator_cancel())

    # Act
    step = harness.broker("4", cl_ord_id=harness.child("F"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[14], report[151]) == (
        "4",
        "4",
        "C1",
        "40",
        "0",
    )
    assert 41 not in report


def test_operator_cancel_refused_by_the_broker_tells_the_client_nothing():
    # Arrange
    harness = Harness()
    harness.working_order()
    harness.run(operator_cancel())

    # Act
    step = harness.run(broker_cancel_reject(harness.child("F"), harness.child("D")))

    # Assert
    assert step.sent == []
    assert harness.order().status is OrdStatus.NEW


def _filled(harness: Harness) -> None:
    harness.working_order(filled="100")


def _pending(harness: Harness) -> None:
    harness.working_order()
    harness.run(cancel_order("C2", "C1"))


@pytest.mark.parametrize(
    ("prepare", "order_id", "error"),
    [
        (lambda harness: None, "O0-99", "unknown order O0-99"),
        (_filled, "O0-1", "order O0-1 is FILLED"),
        (_pending, "O0-1", "order O0-1 already has a request pending"),
    ],
    ids=["unknown order", "filled order", "request pending"],
)
def test_operator_cancel_is_refused_with_a_clear_error(prepare, order_id, error):
    # Arrange
    harness = Harness()
    prepare(harness)
    command = operator_cancel(order_id)

    # Act
    step = harness.run(command)

    # Assert
    assert command.reply.result(timeout=0) == {"ok": False, "error": error}
    assert step.sent == []


def test_an_operator_cancel_while_the_broker_is_down_is_held_and_says_so():
    # Arrange: #19
    harness = Harness()
    harness.working_order()
    harness.logged_out(BROKER)
    command = operator_cancel("O0-1")

    # Act
    step = harness.run(command)

    # Assert
    assert command.reply.result(timeout=0) == {
        "ok": True, "order_id": "O0-1", "status": "PENDING_CANCEL",
        "held": f"until {BROKER} logs on"}
    assert step.to_broker == []
