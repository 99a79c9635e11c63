"""NewOrderSingle through the core: the child order, the broker's ack and fills, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.app.harness import (
    BROKER,
    CLIENT,
    START_FIX,
    Harness,
    submit_order,
    tags,
)

D = Decimal


# --- happy path -----------------------------------------------------------------------------
def test_new_order_is_routed_as_a_child_with_our_own_cl_ord_id_and_the_same_terms():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(
        submit_order(
            "C1",
            symbol="ACME",
            side="2",
            order_qty=D(150),
            price=D("10.25"),
            time_in_force="1",
            account="ACC1",
        )
    )

    # Assert
    child = step.only_to_broker("D")
    assert child == {
        11: "C0-1",
        1: "ACC1",
        21: "1",
        55: "ACME",
        54: "2",
        60: START_FIX,
        38: "150",
        40: "2",
        44: "10.25",
        59: "1",
    }
    assert child[11] != "C1"
    assert step.upstream == []  # nothing is acknowledged before the broker acks


def test_child_order_takes_the_route_account_when_the_client_gave_none():
    # Arrange
    harness = Harness(route_account="HOUSE")

    # Act
    step = harness.run(submit_order(account=""))

    # Assert
    assert step.only_to_broker("D")[1] == "HOUSE"


def test_broker_ack_becomes_a_new_report_with_our_order_id_and_our_exec_id():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1"))

    # Act
    step = harness.ack(exec_id="BX-ACK", broker_order_id="BRK-77")

    # Assert
    report = step.only_upstream("8")
    order = harness.order("C1")
    assert report[37] == order.order_id == "O0-1"
    assert report[11] == "C1"
    assert 41 not in report
    assert (report[150], report[39]) == ("0", "0")
    assert report[17] == "E0-1"  # ours, not the broker's BX-ACK
    assert (report[151], report[14], report[6]) == ("100", "0", "0")
    assert (report[55], report[54], report[38], report[40], report[44], report[59]) == (
        "ACME",
        "1",
        "100",
        "2",
        "10",
        "0",
    )
    assert report[1] == "ACC1"
    assert report[60] == START_FIX
    assert order.child.broker_order_id == "BRK-77"


def test_partial_fill_then_fill_report_quantities_we_computed():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1", order_qty=D(150)))
    harness.ack()

    # Act: the broker's own CumQty is wrong on purpose; we must not copy it
    partial = harness.fill("100", "10", cum_qty="999")
    full = harness.fill("50", "10.3", cum_qty="999")

    # Assert
    first, second = partial.only_upstream("8"), full.only_upstream("8")
    assert (first[150], first[39], first[32], first[31]) == ("F", "1", "100", "10")
    assert (first[14], first[151], first[6]) == ("100", "50", "10")
    assert (second[150], second[39], second[32], second[31]) == ("F", "2", "50", "10.3")
    assert (second[14], second[151], second[6]) == ("150", "0", "10.1")
    assert first[11] == second[11] == "C1"
    assert first[37] == second[37] == "O0-1"


def test_every_exec_id_we_report_is_unique_and_none_is_the_brokers():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1", order_qty=D(150)))
    harness.ack(exec_id="BX1")

    # Act
    harness.fill("100", "10", exec_id="BX2")
    harness.fill("50", "10.3", exec_id="BX3")

    # Assert
    exec_ids = [tags(m)[17] for m in harness.sender.sent if m.session == CLIENT]
    assert len(exec_ids) == 3
    assert len(set(exec_ids)) == 3
    assert not set(exec_ids) & {"BX1", "BX2", "BX3"}


def test_fill_batches_carry_the_order_snapshot_and_the_execution_record():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1", order_qty=D(150)))
    harness.ack()

    # Act
    step = harness.fill("100", "10", exec_id="BX2")

    # Assert
    snapshot = step.batch.orders["O0-1"]
    assert (snapshot.status, snapshot.cum_qty, snapshot.leaves_qty, snapshot.avg_px) == (
        "1",
        D(100),
        D(50),
        D(10),
    )
    [execution] = step.batch.executions
    assert execution.child_id == harness.child("D")  # #17: the fill is its child's
    report = step.only_upstream("8")
    assert execution.exec_id == report[17]
    assert (execution.exec_type, execution.ord_status) == ("F", "1")
    assert (execution.last_qty, execution.last_px) == (D(100), D(10))
    assert (execution.cum_qty, execution.leaves_qty, execution.avg_px) == (D(100), D(50), D(10))
    assert (execution.broker_session, execution.broker_exec_id) == (BROKER, "BX2")


def test_pending_new_is_reported_before_the_child_leaves_when_configured():
    # Arrange
    harness = Harness(send_pending_new=True)

    # Act
    step = harness.run(submit_order("C1"))

    # Assert
    assert [m.msg_type for m in step.sent] == ["8", "D"]
    report = step.only_upstream("8")
    assert (report[150], report[39], report[151], report[14]) == ("A", "A", "100", "0")


def test_market_order_needs_no_price():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(submit_order(ord_type="1", price=None))

    # Assert
    child = step.only_to_broker("D")
    assert child[40] == "1"
    assert 44 not in child


def test_ex_destination_picks_the_route_and_travels_with_the_child():
    # Arrange
    harness = Harness(destinations={"XNAS": "SIM"})

    # Act
    step = harness.run(submit_order(ex_destination="XNAS"))

    # Assert
    assert step.only_to_broker("D")[100] == "XNAS"


# --- refusals -------------------------------------------------------------------------------
def _assert_rejected(step, cl_ord_id: str, rej_reason: str, words: str) -> dict[int, str]:
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("8", "8", cl_ord_id)
    assert report[103] == rej_reason
    assert words in report[58]
    assert (report[151], report[14], report[6]) == ("0", "0", "0")
    assert step.to_broker == []
    return report


REFUSED_ORDERS = {
    # scenario: (harness settings, order fields, OrdRejReason, words in Text)
    "OrderQty missing": ({}, {"order_qty": None}, "13", "OrderQty (38) is required"),
    "OrderQty zero": ({}, {"order_qty": D(0)}, "13", "OrderQty (38) must be positive, got 0"),
    "OrderQty negative": ({}, {"order_qty": D(-5)}, "13", "OrderQty (38) must be positive"),
    "limit without Price": ({}, {"price": None}, "99", "Price (44) is required"),
    "limit with Price zero": ({}, {"price": D(0)}, "99", "Price (44) must be positive"),
    "unknown symbol": ({"symbols": {"ACME"}}, {"symbol": "ZZZZ"}, "1", "Unknown symbol ZZZZ"),
    "unknown ExDestination": (
        {"destinations": {"XNAS": "SIM"}},
        {"ex_destination": "XNYS"},
        "0",
        "Unknown ExDestination (100) XNYS",
    ),
    "broker not logged on": ({"logged_on": {CLIENT}}, {}, "0", "Broker SIM is not connected"),
    "unsupported Side": ({}, {"side": "Z"}, "99", "Side (54)"),
    "stop without StopPx": ({}, {"ord_type": "3", "price": None}, "99", "StopPx (99) is required"),
    "Symbol missing": ({}, {"symbol": ""}, "99", "Symbol (55) is required"),
}


@pytest.mark.parametrize(
    ("settings", "fields", "rej_reason", "words"),
    list(REFUSED_ORDERS.values()),
    ids=list(REFUSED_ORDERS),
)
def test_invalid_new_order_is_rejected_with_a_reason_and_never_routed(
    settings, fields, rej_reason, words
):
    # Arrange
    harness = Harness(**settings)

    # Act
    step = harness.run(submit_order("C1", **fields))

    # Assert
    _assert_rejected(step, "C1", rej_reason, words)
    assert step.batch.orders[harness.order("C1").order_id].status == "8"
    [inbound] = step.events("in")
    assert inbound.transition.startswith("DENY ")


def test_known_symbol_is_accepted_when_symbols_are_configured():
    # Arrange
    harness = Harness(symbols={"ACME"})

    # Act
    step = harness.run(submit_order(symbol="ACME"))

    # Assert
    assert step.only_to_broker("D")[55] == "ACME"


def test_duplicate_cl_ord_id_of_a_live_order_is_rejected_and_the_live_order_is_untouched():
    # Arrange
    harness = Harness()
    live = harness.working_order(qty="100", filled="40")
    status, qty, version, child = live.status, live.order_qty, live.version, live.child.cl_ord_id

    # Act
    step = harness.run(submit_order("C1", order_qty=D(500)))

    # Assert
    report = _assert_rejected(step, "C1", "6", "Duplicate ClOrdID C1")
    assert report[37] != live.order_id
    assert harness.order("C1") is live
    assert (live.status, live.order_qty, live.version, live.child.cl_ord_id) == (
        status,
        qty,
        version,
        child,
    )
    assert live.order_id not in step.batch.orders


def test_cl_ord_id_of_a_finished_order_may_be_used_again():
    # Arrange
    harness = Harness()
    first = harness.working_order(qty="100", filled="100")

    # Act
    step = harness.run(submit_order("C1", order_qty=D(20)))

    # Assert
    child = step.only_to_broker("D")
    assert child[38] == "20"
    assert child[11] != first.child.cl_ord_id
    assert harness.order("C1") is not first
    assert step.upstream == []


def test_pre_trade_checks_are_timed_once_per_new_order_routed_or_refused():
    # Arrange: #3's "risk checks" figure is this stage (GET /stats "checks_us")
    harness = Harness()

    # Act
    harness.run(submit_order("C1"))
    harness.run(submit_order("C2", order_qty=D(0)))  # refused by the checks
    harness.run(submit_order("C1", poss_dup=True))  # already seen: ignored, not checked

    # Assert
    samples = list(harness.core.stats.checks_ns)
    assert len(samples) == 2
    assert all(sample > 0 for sample in samples)
    harness.core.stats.reset_samples()
    assert not harness.core.stats.checks_ns
