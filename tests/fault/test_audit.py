"""The crash suite's audit on hand-written ledgers: each kind of loss it must report, and
silence when the three ledgers agree. No process, no database: ``audit`` takes plain data."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.fault.harness import CrashReport, Ledgers, audit

D = Decimal


def agreeing_ledgers() -> Ledgers:
    """Two orders: C-1 filled in two fills; C-2 replaced (C-3) then canceled (C-4)."""
    client = {
        "C-1": {"cl_ord_ids": ["C-1"], "current_cl_ord_id": "C-1", "order_id": "O-1",
                "status": "2", "order_qty": D(100), "cum_qty": D(100), "fills_qty": D(100),
                "fills": [("E-1", D(40), D(10)), ("E-2", D(60), D(10))], "acks": 1,
                "received": 3, "unanswered": {}, "reports": []},
        "C-2": {"cl_ord_ids": ["C-2", "C-3", "C-4"], "current_cl_ord_id": "C-4",
                "order_id": "O-2", "status": "4", "order_qty": D(150), "cum_qty": D(0),
                "fills_qty": D(0), "fills": [], "acks": 1, "received": 3, "unanswered": {},
                "reports": []},
    }
    orders = [
        {"order_id": "O-1", "cl_ord_id": "C-1", "orig_cl_ord_id": "", "status": "2",
         "order_qty": D(100), "cum_qty": D(100), "child_cl_ord_id": "K-1",
         "broker_order_id": "B-1", "pending": ""},
        {"order_id": "O-2", "cl_ord_id": "C-4", "orig_cl_ord_id": "C-3", "status": "4",
         "order_qty": D(150), "cum_qty": D(0), "child_cl_ord_id": "K-4",
         "broker_order_id": "B-2", "pending": ""},
    ]
    executions = [
        {"order_id": "O-1", "exec_id": "E-1", "exec_type": "F", "last_qty": D(40),
         "last_px": D(10), "broker_exec_id": "X-1"},
        {"order_id": "O-1", "exec_id": "E-2", "exec_type": "F", "last_qty": D(60),
         "last_px": D(10), "broker_exec_id": "X-2"},
    ]
    book = {
        "children": {"K-1": {"D": 1}, "K-2": {"D": 1}, "K-3": {"G": 1}, "K-4": {"F": 1}},
        "orders": {
            "B-1": {"cl_ord_ids": ["K-1"], "order_qty": D(100), "cum_qty": D(100),
                    "status": "2", "fills": [("X-1", D(40), D(10)), ("X-2", D(60), D(10))]},
            "B-2": {"cl_ord_ids": ["K-2", "K-3", "K-4"], "order_qty": D(150),
                    "cum_qty": D(0), "status": "4", "fills": []},
        },
    }
    counts = {"protocol_errors": 0, "protocol_error_samples": [], "duplicate_exec_ids": 0}
    return Ledgers(client, counts, orders, executions, [], book)


def _fill_never_reached_the_client(ledgers: Ledgers) -> None:
    order = ledgers.client["C-1"]
    order["fills"], order["fills_qty"] = order["fills"][:1], D(40)


def _new_never_reached_the_client(ledgers: Ledgers) -> None:
    ledgers.client["C-1"]["acks"] = 0


def _cancel_answer_never_reached_the_client(ledgers: Ledgers) -> None:
    ledgers.client["C-2"].update(status="0", unanswered={"C-4": "cancel"})


def _child_sent_twice(ledgers: Ledgers) -> None:
    ledgers.broker["children"]["K-1"] = {"D": 2}


def _execid_twice_without_possdup(ledgers: Ledgers) -> None:
    ledgers.client_counts["duplicate_exec_ids"] = 1


def _broker_fill_booked_twice(ledgers: Ledgers) -> None:
    ledgers.blotter_executions.append({**ledgers.blotter_executions[1], "exec_id": "E-3"})


def _cancel_child_never_sent(ledgers: Ledgers) -> None:
    ledgers.blotter_orders[1]["status"] = "6"  # PendingCancel; the broker canceled
    ledgers.client["C-2"].update(status="6", unanswered={"C-4": "cancel"})


def _broker_order_unknown_to_the_blotter(ledgers: Ledgers) -> None:
    ledgers.broker["orders"]["B-9"] = {"cl_ord_ids": ["K-9"], "order_qty": D(1),
                                       "cum_qty": D(0), "status": "0", "fills": []}


def _unchanged(ledgers: Ledgers) -> None:
    return None


@pytest.mark.parametrize(("damage", "expected"), [
    (_unchanged, {}),
    (_fill_never_reached_the_client, {"lost": 1, "fills_client": 1, "disagreeing": 1}),
    (_new_never_reached_the_client, {"unacknowledged": 1, "acked": 1, "disagreeing": 1}),
    (_cancel_answer_never_reached_the_client, {"final": 1, "disagreeing": 1}),
    (_child_sent_twice, {"children_sent_twice": 1}),
    (_execid_twice_without_possdup, {"doubled": 1}),
    (_broker_fill_booked_twice, {"doubled": 1, "fills_blotter": 3, "disagreeing": 1}),
    (_cancel_child_never_sent, {"final": 1, "disagreeing": 1}),
    (_broker_order_unknown_to_the_blotter, {"orphan_children": 1}),
])
def test_the_audit_reports_each_kind_of_loss_and_nothing_else(
        damage: Callable[[Ledgers], None], expected: dict[str, Any]) -> None:
    # Arrange
    ledgers = agreeing_ledgers()
    damage(ledgers)
    report = CrashReport("sqlite")

    # Act
    audit(ledgers, report)

    # Assert
    agreeing = {"orders": 2, "acked": 2, "final": 2, "fills_client": 2, "fills_blotter": 2,
                "fills_broker": 2, "lost": 0, "doubled": 0, "children_sent_twice": 0,
                "unacknowledged": 0, "orphan_children": 0, "protocol_errors": 0,
                "disagreeing": 0}
    found = {key: getattr(report, key) for key in agreeing if key != "disagreeing"}
    found["disagreeing"] = len(report.disagreements)
    assert found == {**agreeing, **expected}, report.describe()
    assert bool(report.failures()) == bool(expected), report.failures()


def test_a_lost_fill_is_named_with_its_three_views() -> None:
    # Arrange
    ledgers = agreeing_ledgers()
    _fill_never_reached_the_client(ledgers)
    report = CrashReport("postgres")

    # Act
    audit(ledgers, report)

    # Assert
    [disagreement] = report.disagreements
    assert disagreement.cl_ord_id == "C-1"
    assert disagreement.problems == [
        "CumQty client 100 (sum of LastQty 40) blotter 100 broker 100",
        "fills lost on the way to the client: X-2 (60) booked as E-2"]
    assert disagreement.blotter is not None and disagreement.broker is not None
    assert report.ledger_line() == (
        "crash suite: postgres 0 kills, 2 orders, acked 2, final 2, fills client 1 blotter 2 "
        "broker 2, lost 1, doubled 0, children sent twice 0, unacknowledged 0, "
        "orders disagreeing 1")


def _second_fill_inferred(ledgers: Ledgers, qty: Decimal) -> None:
    """C-1's second broker fill (X-2, 60) never booked; a fill inferred from a status
    answer (E-9, no broker ExecID) of ``qty`` booked and sent to the client instead."""
    executions = ledgers.blotter_executions
    executions[1] = {**executions[1], "exec_id": "E-9", "last_qty": qty, "broker_exec_id": ""}
    ledgers.client["C-1"]["fills"][1] = ("E-9", qty, D(10))


def test_with_a_resetting_broker_fills_inferred_from_status_answers_stand_for_lost_ones():
    # Arrange
    ledgers = agreeing_ledgers()
    _second_fill_inferred(ledgers, D(60))
    report = CrashReport("sqlite")

    # Act
    audit(ledgers, report, status_fills=True)

    # Assert
    assert report.failures() == [], report.describe()
    assert (report.lost, report.inferred) == (0, 1)


def test_inferred_fills_that_do_not_add_up_to_the_unbooked_ones_are_a_loss():
    # Arrange: the inferred fill says 50 where the broker filled 60
    ledgers = agreeing_ledgers()
    _second_fill_inferred(ledgers, D(50))
    report = CrashReport("sqlite")

    # Act
    audit(ledgers, report, status_fills=True)

    # Assert
    assert report.lost == 1
    assert any("inferred from status answers (50)" in p
               for d in report.disagreements for p in d.problems), report.describe()


def test_without_a_resetting_broker_an_unbooked_broker_fill_is_lost_whatever_was_inferred():
    # Arrange
    ledgers = agreeing_ledgers()
    _second_fill_inferred(ledgers, D(60))
    report = CrashReport("sqlite")

    # Act
    audit(ledgers, report)

    # Assert
    assert report.lost == 1
