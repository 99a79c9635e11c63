"""#16, the outbox: every outbound message is numbered in its session, and how far each
session's messages reached the FIX engine rides on the next commit."""

from __future__ import annotations

from decimal import Decimal

from oms.app.commands import RecoverOutbox, SessionLoggedOn
from oms.app.ports import OutMessage
from tests.unit.app.harness import (
    BROKER,
    CLIENT,
    FakeSender,
    Harness,
    HoldingJournal,
    broker_report,
    submit_order,
)

D = Decimal


def _out_rows(step_batch) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    return [(e.session, e.msg_type, e.outbox_seq) for e in step_batch.events if e.kind == "out"]


def test_outbound_messages_are_numbered_per_session_in_commit_order():
    # Arrange
    harness = Harness()

    # Act
    first = harness.run(submit_order("C1"), submit_order("C2"))
    acks = harness.run(broker_report(harness.child("D"), "0", "BX1", ord_status="0"))

    # Assert
    assert _out_rows(first.batch) == [(BROKER, "D", 1), (BROKER, "D", 2)]
    assert first.batch.outbound == {BROKER: 2}
    assert _out_rows(acks.batch) == [(CLIENT, "8", 1)]
    assert acks.batch.outbound == {CLIENT: 1}
    assert [m.outbox_seq for m in harness.sender.sent] == [1, 2, 1]
    assert [e.outbox_seq for e in first.batch.events if e.kind == "in"] == [None, None]


def test_how_far_a_session_was_sent_goes_into_the_next_batch_not_before():
    # Arrange
    journal = HoldingJournal()
    harness = Harness(journal=journal)
    first = harness.run(submit_order("C1"))
    assert first.batch.out_sent == {}  # nothing sent yet: the commit comes first

    # Act: the first batch commits and is sent; then another batch
    journal.commit()
    second = harness.run(submit_order("C2"))
    third = harness.run(submit_order("C3"))

    # Assert: the second batch records the first's send once; the third has nothing new
    assert harness.core.outbox_sent == {BROKER: 1}
    assert second.batch.out_sent == {BROKER: 1}
    assert third.batch.out_sent == {}
    assert harness.core.outbox_committed == {BROKER: 3}


def test_a_batch_whose_sending_failed_does_not_move_the_mark():
    # Arrange
    class FailingSender(FakeSender):
        def send(self, messages: list[OutMessage]) -> None:
            raise RuntimeError("engine gone")

    harness = Harness()
    harness.core.sender = FailingSender()

    # Act
    harness.run(submit_order("C1"))

    # Assert
    assert harness.core.outbox_committed == {BROKER: 1}
    assert harness.core.outbox_sent == {}


def test_numbering_goes_on_from_the_blotter_after_a_restart():
    # Arrange
    harness = Harness()
    harness.core.load_outbox({BROKER: 41, CLIENT: 7}, {BROKER: 40, CLIENT: 7})

    # Act
    step = harness.run(submit_order("C1"))

    # Assert
    assert _out_rows(step.batch) == [(BROKER, "D", 42)]
    assert harness.core.outbox_sent == {BROKER: 42, CLIENT: 7}


def test_recovered_messages_sent_at_start_move_the_mark_and_are_journaled():
    # Arrange
    harness = Harness()
    harness.core.load_outbox({CLIENT: 9}, {CLIENT: 6})

    # Act
    step = harness.run(RecoverOutbox(CLIENT, 9, [], "outbox after the restart: ..."))

    # Assert
    assert step.batch.out_sent == {CLIENT: 9}
    assert [(e.kind, e.session, e.body) for e in step.batch.events] == [
        ("outbox", CLIENT, "outbox after the restart: ...")]
    assert step.sent == []


def test_held_messages_go_first_at_the_sessions_logon_and_hold_the_mark_until_then():
    # Arrange: two upstream messages committed before the restart wait for the logon
    harness = Harness()
    harness.core.load_outbox({CLIENT: 5}, {CLIENT: 3})
    held = [OutMessage.of_fields(CLIENT, "8", [(97, "Y"), (37, "O1"), (17, "E4")], outbox_seq=4),
            OutMessage.of_fields(CLIENT, "8", [(37, "O1"), (17, "E5")], outbox_seq=5)]
    harness.run(RecoverOutbox(CLIENT, 0, held, "held"))
    harness.working_order()  # the broker's ack is reported upstream before the logon

    # Act
    before_logon = dict(harness.core.outbox_sent)
    logon = harness.run(SessionLoggedOn(CLIENT))

    # Assert: the mark stayed at 3 while they were held; after the logon it covers all
    assert before_logon[CLIENT] == 3
    assert [m.outbox_seq for m in logon.sent] == [4, 5]
    assert logon.sent[0].fields[0] == (97, "Y")
    assert harness.core.outbox_sent[CLIENT] == harness.core.outbox_committed[CLIENT] == 6
    assert [e.body for e in logon.batch.events if e.kind == "outbox"] == [
        "logged on: sent the 2 held outbound message(s) committed before the restart"]
