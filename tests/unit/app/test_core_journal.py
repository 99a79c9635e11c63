"""Group commit and the audit journal: nothing leaves before commit; everything is journaled."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from decimal import Decimal

import pytest

from oms.app.commands import Barrier
from oms.app.ports import OutMessage, Route
from oms.bootstrap import new_core
from oms.domain.ids import Ids
from tests.unit.app.harness import (
    BROKER,
    CLIENT,
    FakeJournal,
    FakeSender,
    Harness,
    HoldingJournal,
    broker_report,
    cancel_order,
    submit_order,
)

D = Decimal


def test_nothing_is_sent_before_the_batch_is_committed():
    # Arrange
    journal = HoldingJournal()
    harness = Harness(journal=journal)

    # Act
    harness.run(submit_order("C1"))

    # Assert
    assert len(journal.batches) == 1
    assert harness.sender.sent == []
    journal.commit()
    assert [(m.session, m.msg_type) for m in harness.sender.sent] == [(BROKER, "D")]


def test_held_batches_are_sent_in_order_once_committed():
    # Arrange
    journal = HoldingJournal()
    harness = Harness(journal=journal)
    harness.run(submit_order("C1"))
    harness.run(cancel_order("C2", "C1"))
    harness.run(submit_order("C9", order_qty=D(0)))  # refused at once, still journaled first
    assert harness.sender.sent == []

    # Act
    journal.commit()

    # Assert
    sent = [(m.session, m.msg_type) for m in harness.sender.sent]
    assert sent == [(BROKER, "D"), (BROKER, "F"), (CLIENT, "8")]
    child_d, child_f = harness.sender.sent[0], harness.sender.sent[1]
    assert dict(child_f.fields)[41] == dict(child_d.fields)[11]


def test_broker_report_is_not_answered_upstream_before_commit():
    # Arrange
    journal = HoldingJournal()
    harness = Harness(journal=journal)
    harness.run(submit_order("C1"))
    journal.commit()
    child = harness.child("D")

    # Act
    harness.run(
        broker_report(child, "0", "BX1"),
        broker_report(child, "F", "BX2", last_qty="10", last_px="10"),
    )

    # Assert
    assert len(harness.sender.sent) == 1
    journal.commit()
    reports = [dict(m.fields) for m in harness.sender.sent[1:]]
    assert [(r[150], r[39]) for r in reports] == [("0", "0"), ("F", "1")]


def test_new_order_batch_journals_the_inbound_message_the_transition_and_the_child():
    # Arrange
    harness = Harness()
    command = submit_order("C1")

    # Act
    step = harness.run(command)

    # Assert: the transition is on the row of the message that caused it (#3)
    kinds = [(e.kind, e.msg_type) for e in step.batch.events]
    assert kinds == [("in", "D"), ("out", "D")]
    inbound, outbound = step.batch.events
    assert (inbound.session, inbound.body, inbound.order_id) == (CLIENT, command.raw, "O0-1")
    assert inbound.transition == "SUBMIT -> PENDING_NEW routed to SIM"
    assert outbound.transition == ""
    assert (outbound.session, outbound.body) == (BROKER, step.sent[0].render())
    assert all(e.ts == harness.clock.now for e in step.batch.events)
    assert step.batch.orders["O0-1"].status == "A"


def test_a_whole_conversation_journals_every_message_in_and_out_and_every_transition():
    # Arrange
    harness = Harness()
    inbound_raw: list[str] = []

    def play(command):
        inbound_raw.append(command.raw)
        return harness.run(command)

    # Act
    play(submit_order("C1"))
    child = harness.child("D")
    play(broker_report(child, "0", "BX1"))
    play(broker_report(child, "F", "BX2", last_qty="40", last_px="10"))
    play(cancel_order("C2", "C1"))
    cancel_child = harness.child("F")
    play(broker_report(cancel_child, "6", "BX3", orig_cl_ord_id=child))
    play(broker_report(cancel_child, "4", "BX4", orig_cl_ord_id=child))

    # Assert
    events = [e for b in harness.journal.batches for e in b.events]
    assert [e.body for e in events if e.kind == "in"] == inbound_raw
    assert [e.body for e in events if e.kind == "out"] == [m.render() for m in harness.sender.sent]
    assert [e for e in events if e.kind == "transition"] == []  # each had a cause
    changes = [(e.msg_type, e.transition) for e in events if e.transition]
    assert changes == [
        ("D", "SUBMIT -> PENDING_NEW routed to SIM"),
        ("8", "ACCEPT PENDING_NEW -> NEW"),
        ("8", "PARTIAL_FILL NEW -> PARTIALLY_FILLED"),
        ("F", "CANCEL_REQUEST PARTIALLY_FILLED -> PENDING_CANCEL"),
        ("8", "CANCEL_PENDING PENDING_CANCEL -> PENDING_CANCEL"),
        ("8", "CANCEL PENDING_CANCEL -> CANCELED"),
    ]
    assert all(e.kind == "in" for e in events if e.transition)


def test_an_idle_batch_hands_nothing_to_the_journal():
    # Arrange
    harness = Harness()

    # Act
    harness.run()

    # Assert
    assert harness.journal.batches == []


# --- duplicate broker ExecIDs (#2) ------------------------------------------------------------
@pytest.mark.parametrize("same_batch", [False, True], ids=["later batch", "same batch"])
def test_resent_broker_fill_is_dropped_without_a_second_fill(same_batch):
    # Arrange
    harness = Harness()
    order = harness.working_order(qty="100")
    fill = broker_report(harness.child("D"), "F", "BX-FILL", last_qty="40", last_px="10")

    # Act
    if same_batch:
        step = harness.run(fill, fill)
    else:
        harness.run(fill)
        step = harness.run(fill)

    # Assert
    assert order.cum_qty == D(40)
    assert len(order.fills) == 1
    upstream_fills = [m for m in step.upstream if dict(m.fields).get(150) == "F"]
    assert len(upstream_fills) == (1 if same_batch else 0)
    [ignored] = step.events("ignored")
    assert "BX-FILL" in ignored.body
    assert ignored.session == BROKER


def test_resent_broker_fill_is_still_journaled_as_an_inbound_message():
    # Arrange
    harness = Harness()
    harness.working_order(qty="100")
    fill = broker_report(harness.child("D"), "F", "BX-FILL", last_qty="40", last_px="10")
    harness.run(fill)

    # Act
    step = harness.run(fill)

    # Assert: DESIGN.md, order_events: every inbound message is journaled
    assert [e.body for e in step.events("in")] == [fill.raw]
    assert len(step.events("ignored")) == 1


def test_broker_status_answer_is_never_dropped_as_a_duplicate_exec_id():
    # Arrange
    harness = Harness()
    harness.working_order(qty="100")
    child = harness.child("D")
    harness.run(broker_report(child, "F", "X1", last_qty="40", last_px="10"))

    # Act: a status answer (150=I) may repeat an ExecID; it books nothing
    step = harness.run(broker_report(child, "I", "X1", cum_qty="40"))

    # Assert
    assert step.events("ignored") == []
    assert step.sent == []


def _core(settings, journal, sender):  # type: ignore[no-untyped-def]
    return new_core(settings, journal, sender, routes={"SIM": Route("SIM", BROKER)},
                    default_route="SIM", up=(CLIENT, BROKER), ids=Ids())


class SlowSender(FakeSender):
    """Takes a while per message and notes which threads sent, to expose any reordering."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def send(self, messages: list[OutMessage]) -> None:
        self.threads.add(threading.current_thread().name)
        for message in messages:
            time.sleep(0.0005)
            self.sent.append(message)


def test_the_sender_thread_keeps_commit_order_and_replies_come_after_their_messages():
    # #3: a committed batch of many messages is sent by the sender thread while the core
    # goes on; a small one is sent by the committing thread only when nothing is queued
    # before it. Either way messages leave in commit order and a Barrier resolves after.
    # Arrange
    settings = Harness().settings
    settings.offload_sends_from = 5
    sender = SlowSender()
    core = _core(settings, FakeJournal(), sender)
    for n in range(40):  # queued before the start: the first batch takes all of them
        core.submit(submit_order(f"B{n}"))
    first = Future()
    core.submit(Barrier(first))
    core.start()
    try:
        # Act: the burst is one batch of 40 messages (offloaded); then single orders, each
        # a batch of one message with nothing queued before it (sent by the core itself)
        assert first.result(timeout=10) is True
        sent_at_first_barrier = len(sender.sent)
        for n in range(10):
            core.submit(submit_order(f"S{n}"))
            done = Future()
            core.submit(Barrier(done))
            assert done.result(timeout=10) is True
    finally:
        core.stop()

    # Assert
    children = [core.by_upstream[(CLIENT, f"B{n}")].child.cl_ord_id for n in range(40)]
    children += [core.by_upstream[(CLIENT, f"S{n}")].child.cl_ord_id for n in range(10)]
    assert [dict(m.fields)[11] for m in sender.sent] == children
    assert sent_at_first_barrier == 40
    assert sender.threads == {"oms-core", "oms-sender"}


def test_a_batch_committed_after_the_core_stopped_is_still_sent():
    # a journal can call a batch's after-commit callback after the core and its sender
    # thread have stopped: those messages are sent where the callback runs
    # Arrange
    settings = Harness().settings
    settings.offload_sends_from = 1  # every batch would go to the sender thread
    journal = HoldingJournal()
    sender = FakeSender()
    core = _core(settings, journal, sender)
    for n in range(3):
        core.submit(submit_order(f"L{n}"))
    core.start()
    done = Future()
    core.submit(Barrier(done))
    wait_until = time.monotonic() + 10
    while len(journal.uncommitted) == 0 or not core.queue.empty():
        assert time.monotonic() < wait_until, "the core did not hand its batches over"
        time.sleep(0.01)
    core.stop()

    # Act
    journal.commit()

    # Assert
    assert done.result(timeout=0) is True
    children = [core.by_upstream[(CLIENT, f"L{n}")].child.cl_ord_id for n in range(3)]
    assert [(m.session, m.msg_type, dict(m.fields)[11]) for m in sender.sent] == [
        (BROKER, "D", child) for child in children]
