"""#21: the position keeper: fees from a report's Commission or the broker's schedule, the
default account, corrections then busts under the correction's ExecID, and a keeper rebuilt
from stored executions holding the rows of the one that ran."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from oms.app.records import BookedExecution, PositionStart
from oms.portfolio.keeper import FeeSchedule, PositionKeeper, reported_fee

AT = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("commission", "comm_type", "fee"), [
    ("0.005", "1", "0.500"),  # per unit: 100 shares
    ("0.1", "2", "2.000"),  # percent of 100 * 20
    ("4.25", "3", "4.25"),  # absolute
    ("4.25", "", "4.25"),  # no CommType: absolute
])
def test_a_reported_commission_is_read_by_its_comm_type(commission: str, comm_type: str,
                                                         fee: str) -> None:
    assert reported_fee(D(commission), comm_type, D(100), D(20)) == D(fee)


def test_a_schedule_charges_per_share_and_basis_points_and_at_least_its_minimum() -> None:
    schedule = FeeSchedule(per_share=D("0.002"), bps=D("1"), minimum=D("1"))
    # 1,000 * 0.002 + 1 bp of 50,000 = 2 + 5
    assert schedule.fee(D(1000), D(50)) == D("7")
    assert schedule.fee(D(10), D(50)) == D("1")  # 0.02 + 0.05, below the minimum
    assert FeeSchedule().fee(D(10), D(50)) == 0


def test_an_order_without_an_account_books_to_the_default_account() -> None:
    keeper = PositionKeeper(default_account="HOUSE")
    where, fee = keeper.fill("E1", "", "IBM", "1", D(10), D(100), "SIM", None, "")
    assert (where, keeper.row(*where, AT).qty, fee) == (("HOUSE", "IBM"), D(10), 0)
    # without one, the account stays empty, as the blotter has it
    where, _ = PositionKeeper().fill("E1", "", "IBM", "1", D(10), D(100), "SIM", None, "")
    assert where == ("", "IBM")


def test_a_side_that_is_neither_buy_nor_sell_is_refused() -> None:
    keeper = PositionKeeper()
    with pytest.raises(ValueError, match="neither a buy nor a sell"):
        keeper.fill("E1", "A", "IBM", "8", D(10), D(100), "SIM", None, "")


def test_a_fill_corrected_then_busted_under_the_corrections_exec_id_is_gone() -> None:
    # Arrange
    keeper = PositionKeeper()
    keeper.fill("E1", "A", "IBM", "1", D(10), D(100), "SIM", None, "")
    keeper.fill("E2", "A", "IBM", "2", D(4), D(110), "SIM", None, "")
    keeper.correct("E1", "E3", D(10), D(90))

    # Act
    where = keeper.bust("E3")

    # Assert: only the sale of 4 at 110 is left: short 4
    assert where == ("A", "IBM")
    row = keeper.row(*where, AT)
    assert (row.qty, row.cost, row.realized_pnl, row.cash_flow, row.trades) == (
        D(-4), D(-440), D(0), D(440), 1)
    assert keeper.bust("E1") is None  # already gone


def test_a_keeper_rebuilt_from_stored_executions_holds_the_rows_of_the_one_that_ran() -> None:
    # Arrange: a day's start, fills, a correction and a bust, as the core would hand them
    start = PositionStart("2026-12-08", (("A", "IBM", D(100), D(9000)),), (("A", D(1000)),))
    live = PositionKeeper(schedules={"SIM": FeeSchedule(per_share=D("0.01"))})
    live.start(start, AT)
    booked = []
    for exec_id, side, qty, px in (("E1", "2", "150", "95.5"), ("E2", "1", "70", "96.25"),
                                   ("E3", "1", "30", "97")):
        _, fee = live.fill(exec_id, "A", "IBM", side, D(qty), D(px), "SIM", None, "")
        booked.append(BookedExecution("fill", exec_id, "", "A", "IBM", side, D(qty), D(px),
                                      fee))
    live.correct("E2", "E4", D(60), D("96.20"))
    booked.append(BookedExecution("correct", "E4", "E2", "A", "IBM", "1", D(60), D("96.20"),
                                  D(0)))
    live.bust("E3")
    live.row("A", "IBM", AT)  # as the core makes it when it takes the batch
    booked.append(BookedExecution("bust", "E5", "E3", "A", "IBM", "1", D(0), D(0), D(0)))

    # Act
    rebuilt = PositionKeeper()
    rebuilt.start(start, AT)
    problems = rebuilt.replay(booked, AT)

    # Assert
    assert problems == []
    assert rebuilt.rows() == live.rows()
    assert rebuilt.start_cash() == {"A": D(1000)}
    (row,) = rebuilt.rows()
    # long 100 at 90, sell 150 at 95.5 (realize 100 * 5.5, short 50 at 95.5), buy 60 at 96.20
    assert (row.qty, row.realized_pnl) == (D(10), D(550) + 50 * (D("95.5") - D("96.20")))


def test_a_bust_of_a_fill_never_booked_is_reported_by_the_replay() -> None:
    keeper = PositionKeeper()
    problems = keeper.replay([BookedExecution("bust", "E9", "E1", "A", "IBM", "1", D(0),
                                              D(0), D(0))], AT)
    assert problems == ["bust E9 of fill E1, which is not booked"]
