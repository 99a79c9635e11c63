"""#17: the core's ports. Session health comes from the logon and logout commands, never
from the FIX adapter; the risk gate and the router the core is given are the ones it asks;
order events reach a feature's subscriber inside the batch, which may add to it."""

from __future__ import annotations

from oms.app.commands import SessionLoggedOn, SessionLoggedOut
from oms.app.events import ChildRouted, OrderAccepted, OrderEvent, OrderFilled
from oms.app.messages import CancelReject
from oms.app.ports import Denial
from oms.domain.enums import CxlRejReason, CxlRejResponseTo
from tests.unit.app.harness import BROKER, CLIENT, Harness, submit_order


def test_a_broker_logout_then_logon_reaches_the_router_through_the_core():
    # Arrange
    harness = Harness()

    # Act
    harness.run(SessionLoggedOut(BROKER))
    down = harness.run(submit_order("C1"))
    harness.run(SessionLoggedOn(BROKER))
    up = harness.run(submit_order("C2"))

    # Assert
    assert down.only_upstream("8")[58] == "Broker SIM is not connected"
    assert up.to_broker and up.to_broker[0].msg_type == "D"


def test_the_core_asks_the_risk_gate_it_is_given():
    # Arrange
    harness = Harness()

    class Refuses:
        def check_new(self, request, order):  # type: ignore[no-untyped-def]
            return Denial(f"limit: {order.symbol} too big", "3")

    harness.core.risk.check_new = Refuses().check_new  # type: ignore[method-assign]

    # Act
    step = harness.run(submit_order())

    # Assert
    report = step.only_upstream("8")
    assert (report[150], report[103], report[58]) == ("8", "3", "limit: ACME too big")
    assert step.to_broker == []


def test_a_subscriber_sees_the_events_and_adds_to_the_same_batch():
    # Arrange: a feature that answers every fill with a message of its own
    harness = Harness()
    seen: list[OrderEvent] = []

    def feature(event: OrderEvent) -> None:
        seen.append(event)
        if isinstance(event, OrderFilled):
            harness.core.emit(CancelReject(CLIENT, event.order, "X", "Y",
                                           CxlRejResponseTo.CANCEL, CxlRejReason.OTHER,
                                           "from a subscriber"), event.order.order_id)

    harness.core.subscribe(feature)

    # Act
    harness.working_order()
    step = harness.fill("40", "10")

    # Assert: the feature's message is in the fill's batch, after the fill's report
    assert [type(e) for e in seen] == [OrderAccepted, ChildRouted, type(seen[2]), OrderFilled]
    assert [m.msg_type for m in step.upstream] == ["8", "9"]
    assert [e.msg_type for e in step.batch.events if e.kind == "out"] == ["8", "9"]


def test_every_event_class_is_a_kind_a_subscriber_can_get():
    # a new event class left out of EVENT_KINDS would reach no "every event" subscriber
    from oms.app import events

    declared = {cls for cls in vars(events).values()
                if isinstance(cls, type) and issubclass(cls, events.OrderEvent)
                and cls is not events.OrderEvent}
    assert declared == set(events.EVENT_KINDS)


def test_a_childs_broker_order_id_rides_on_the_execution_row_or_else_on_the_childs_row():
    # #17: the broker's OrderID of an acknowledgement is kept on its execution row, so the
    # child's row is not written again; one that comes on a report with no execution row
    # (a broker PendingNew) is kept on the child's row
    # Arrange
    harness = Harness()
    routed = harness.run(submit_order())

    # Act
    pending_new = harness.broker("A", broker_order_id="BRK-0")
    ack = harness.ack(broker_order_id="BRK-1")

    # Assert
    child_id = harness.child("D")
    assert list(routed.batch.children) == [child_id]
    assert pending_new.batch.executions == []
    assert pending_new.batch.children[child_id].broker_order_id == "BRK-0"
    [execution] = ack.batch.executions
    assert (execution.child_id, execution.broker_order_id) == (child_id, "BRK-1")
    assert ack.batch.children == {}
    assert harness.order().child.broker_order_id == "BRK-1"
