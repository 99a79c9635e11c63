"""oms.fix.app's translators: a message's fields as the command the core takes."""

from __future__ import annotations

from decimal import Decimal

from oms.fix.app import _execution_report
from oms.fix.engine import split_fields

BROKER = "FIX.4.4:OMS->BROKER1"


def report_text(*fields: str) -> str:
    return "\x01".join(("8=FIX.4.4", "35=8", "34=7", *fields, "10=000")) + "\x01"


def test_a_restated_report_carries_its_exec_restatement_reason_and_order_qty():
    # Arrange
    text = report_text("37=BK1", "11=K1", "17=X1", "150=D", "39=0", "38=9000", "378=5")

    # Act
    command = _execution_report(BROKER, split_fields(text), text)

    # Assert: #16, both reach the core
    assert (command.exec_type, command.order_qty, command.exec_restatement_reason) == (
        "D",
        Decimal(9000),
        "5",
    )


def test_a_report_without_378_has_no_exec_restatement_reason():
    # Arrange
    text = report_text("37=BK1", "11=K1", "17=X1", "150=5", "39=2", "38=8000", "14=8000")

    # Act
    command = _execution_report(BROKER, split_fields(text), text)

    # Assert
    assert (command.exec_restatement_reason, command.order_qty) == ("", Decimal(8000))
