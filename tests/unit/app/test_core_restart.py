"""Restart: a new core loads the open orders and the broker ExecIDs already booked."""

from __future__ import annotations

import copy
from decimal import Decimal

from oms.app.commands import SessionLoggedOn
from oms.domain.enums import OrdStatus
from tests.unit.app.harness import (
    BROKER,
    Harness,
    broker_report,
    cancel_order,
    replace_order,
    submit_order,
)

D = Decimal


def restarted(before: Harness, seen_broker_execs: set[tuple[str, str]] | None = None) -> Harness:
    """A new process (a later start stamp for its ids) that loaded ``before``'s open orders."""
    after = Harness(epoch_ms=1)
    orders = [copy.deepcopy(o) for o in before.core.orders.values() if o.is_live]
    after.core.load(orders, seen_broker_execs or set())
    after.sender.sent.extend(before.sender.sent)  # what the broker saw, to find child ids
    return after


def test_reports_for_a_loaded_order_apply_after_restart():
    # Arrange
    before = Harness()
    before.working_order(filled="40")
    harness = restarted(before)

    # Act
    step = harness.fill("60", "11", exec_id="BX-NEW")

    # Assert
    report = step.only_upstream("8")
    assert (report[37], report[11], report[150], report[39]) == ("O0-1", "C1", "F", "2")
    assert (report[14], report[151], report[6]) == ("100", "0", "10.6")
    assert report[17].startswith("E1-")  # the new process's ExecIDs


def test_fill_booked_before_restart_is_dropped_when_resent():
    # Arrange
    before = Harness()
    before.working_order()
    before.fill("40", "10", exec_id="BX-FILL")
    harness = restarted(before)

    # Act
    step = harness.run(
        broker_report(harness.child("D"), "F", "BX-FILL", last_qty="40", last_px="10")
    )

    # Assert
    assert step.sent == []
    assert len(step.events("ignored")) == 1
    assert harness.order().cum_qty == D(40)


def test_broker_exec_id_handed_to_load_is_dropped_when_resent():
    # Arrange
    before = Harness()
    before.run(submit_order("C1"))
    before.ack(exec_id="BX-ACK")
    before.broker("D", exec_id="BX-RESTATE", order_qty="100")
    harness = restarted(before, seen_broker_execs={(BROKER, "BX-RESTATE")})

    # Act
    step = harness.broker("D", exec_id="BX-RESTATE", order_qty="100")

    # Assert
    assert step.sent == []
    assert len(step.events("ignored")) == 1


def test_pending_cancel_loaded_at_restart_is_answered_with_the_clients_ids():
    # Arrange
    before = Harness()
    before.pending_cancel(filled="40")
    harness = restarted(before)

    # Act
    step = harness.broker("4", cl_ord_id=harness.child("F"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11], report[41], report[14]) == (
        "4",
        "4",
        "C2",
        "C1",
        "40",
    )


def test_pending_replace_loaded_at_restart_is_confirmed_with_the_new_terms():
    # Arrange
    before = Harness()
    before.pending_replace(order_qty=D(80), price=D("10.5"))
    harness = restarted(before)

    # Act
    step = harness.broker("5", cl_ord_id=harness.child("G"), orig_cl_ord_id=harness.child("D"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[11], report[41], report[38], report[44]) == (
        "5",
        "C3",
        "C1",
        "80",
        "10.5",
    )


def test_client_requests_find_a_loaded_order():
    # Arrange
    before = Harness()
    before.working_order(filled="40")
    harness = restarted(before)

    # Act
    duplicate = harness.run(submit_order("C1"))
    replace = harness.run(replace_order("C3", "C1"))

    # Assert
    assert duplicate.only_upstream("8")[103] == "6"
    assert replace.only_to_broker("G")[41] == harness.child("D")
    assert harness.order("C1").status is OrdStatus.PENDING_REPLACE


def test_bust_of_a_fill_booked_before_restart_refers_to_our_old_exec_id():
    # Arrange
    before = Harness()
    before.working_order()
    fill = before.fill("40", "10", exec_id="BX-FILL").only_upstream("8")
    harness = restarted(before)

    # Act
    step = harness.broker("H", exec_ref_id="BX-FILL")

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[19], report[39], report[14]) == ("H", fill[17], "0", "0")


def test_broker_logon_after_restart_asks_for_the_loaded_orders():
    # Arrange
    before = Harness()
    before.working_order()
    harness = restarted(before)

    # Act: an acknowledged order needs no question; its cancel goes out
    step = harness.run(SessionLoggedOn(BROKER), cancel_order("C2", "C1"))

    # Assert
    assert [m.msg_type for m in step.to_broker] == ["F"]
