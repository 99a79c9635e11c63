"""#21: the core hands its fills, busts and corrections to the position keeper, and the
position's row (and a fill's fee) goes into the same batch as the execution."""

from __future__ import annotations

import dataclasses

from oms.app.positions import PositionFeed
from oms.portfolio.keeper import FeeSchedule, PositionKeeper
from tests.unit.app.harness import D, Harness, broker_report, submit_order


def harness_with_keeper(**schedules: FeeSchedule) -> tuple[Harness, PositionKeeper]:
    harness = Harness()
    keeper = PositionKeeper(schedules=schedules)
    PositionFeed(harness.core, keeper)
    return harness, keeper


def test_a_fill_writes_its_position_row_and_fee_in_the_batch_of_its_execution() -> None:
    # Arrange: the broker charges 0.01 a share, at least 1.50
    h, _ = harness_with_keeper(SIM=FeeSchedule(per_share=D("0.01"), minimum=D("1.50")))
    h.run(submit_order(order_qty=D(300)))
    h.ack()

    # Act
    step = h.fill("100", "10.25")

    # Assert: one execution, its position and its fee, in one batch
    (execution,) = step.batch.executions
    row = step.batch.positions[("ACC1", "ACME")]
    assert (row.qty, row.cost, row.cash_flow, row.trades) == (
        D(100), D("1025.00"), D("-1025.00"), 1)
    (fee,) = step.batch.fees
    assert (fee.exec_id, fee.fee) == (execution.exec_id, D("1.50"))  # 1.00 is below the minimum
    assert row.fees == D("1.50")


def test_the_commission_on_the_report_wins_over_the_schedule() -> None:
    # Arrange
    h, _ = harness_with_keeper(SIM=FeeSchedule(per_share=D("0.01")))
    h.run(submit_order(order_qty=D(200)))
    h.ack()
    report = broker_report(h.child("D"), "F", "BX9", last_qty="200", last_px="10")

    # Act: 5 basis points... as CommType 2 (percent): 0.05 % of 2,000
    step = h.run(dataclasses.replace(report, commission=D("0.05"), comm_type="2"))

    # Assert
    assert step.batch.fees[0].fee == D("1.0000")
    assert step.batch.positions[("ACC1", "ACME")].fees == D("1.0000")


def test_a_bust_and_a_correction_rewrite_the_position_in_their_batches() -> None:
    # Arrange: two fills of 100, at 10 and at 11
    h, keeper = harness_with_keeper()
    h.run(submit_order(order_qty=D(300)))
    h.ack()
    h.fill("100", "10", exec_id="BF1")
    h.fill("100", "11", exec_id="BF2")

    # Act: the broker corrects the first to 100 at 10.50, then busts the second
    corrected = h.broker("G", exec_id="BF3", exec_ref_id="BF1", last_qty="100",
                         last_px="10.50", ord_status="1")
    busted = h.broker("H", exec_id="BF4", exec_ref_id="BF2", ord_status="1")

    # Assert
    row = corrected.batch.positions[("ACC1", "ACME")]
    assert (row.qty, row.cost, row.trades) == (D(200), D("2150.00"), 2)
    row = busted.batch.positions[("ACC1", "ACME")]
    assert (row.qty, row.cost, row.cash_flow, row.trades) == (
        D(100), D("1050.00"), D("-1050.00"), 1)
    assert keeper.rows() == [row]


def test_without_a_keeper_a_fill_writes_no_position() -> None:
    # Arrange
    h = Harness()
    h.run(submit_order())
    h.ack()

    # Act
    step = h.fill("100", "10")

    # Assert
    assert step.batch.positions == {} and step.batch.fees == []
