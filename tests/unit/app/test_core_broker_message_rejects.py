"""A broker refusing our D, F or G outright (session Reject 3 or BusinessMessageReject j)."""

from __future__ import annotations

from oms.app.commands import ApplyBrokerMessageReject
from oms.domain.enums import OrdStatus
from tests.unit.app.harness import BROKER, Harness, cancel_order, submit_order


def refused(cl_ord_id: str, ref_msg_type: str, text: str = "Invalid tag") -> ApplyBrokerMessageReject:
    return ApplyBrokerMessageReject(session=BROKER, seq_num=0, raw="35=3|45=2|58=" + text,
                                    cl_ord_id=cl_ord_id, ref_msg_type=ref_msg_type, text=text)


def test_a_new_order_the_broker_refuses_is_rejected_upstream_with_its_reason():
    # Arrange
    harness = Harness()
    harness.run(submit_order("C1"))

    # Act
    step = harness.run(refused(harness.child("D"), "D", "Required tag missing"))

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[39], report[11]) == ("8", "8", "C1")
    assert report[58] == "Refused by broker: Required tag missing"
    assert harness.order().status is OrdStatus.REJECTED


def test_a_cancel_the_broker_refuses_is_answered_with_a_cancel_reject():
    # Arrange
    harness = Harness()
    harness.working_order()
    harness.run(cancel_order("C2", "C1"))

    # Act
    step = harness.run(refused(harness.child("F"), "F"))

    # Assert
    reject = step.only_upstream("9")
    assert (reject[11], reject[41], reject[39], reject[434]) == ("C2", "C1", "0", "1")
    assert harness.order().status is OrdStatus.NEW


def test_a_refusal_naming_no_order_of_ours_is_journaled_as_an_error():
    # Arrange
    harness = Harness()

    # Act
    step = harness.run(refused("NOT-OURS", "D"))

    # Assert
    assert step.upstream == []
    assert any("unknown ClOrdID NOT-OURS" in e.body for e in step.events("error"))
