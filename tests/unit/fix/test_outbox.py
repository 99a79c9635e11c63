"""#16: reading QuickFIX's FileStore and deciding what of the outbox to send at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.fix import outbox
from oms.fix.outbox import body_key, journal_fields, plan, store_prefix, stored_bodies

SESSION = "FIX.4.4:OMS->CLIENT1"
SOH = "\x01"


def _wire(seq: int, msg_type: str, body: str) -> str:
    """A message as the engine stores it: header (fields reordered), body, trailer."""
    fields = body.replace("|", SOH)
    return (f"8=FIX.4.4{SOH}9=99{SOH}35={msg_type}{SOH}34={seq}{SOH}49=OMS{SOH}"
            f"52=20261207-10:00:00.000{SOH}56=CLIENT1{SOH}{fields}{SOH}10=000{SOH}")


def _write_store(folder: Path, messages: list[str], seqs: list[int] | None = None,
                 next_sender: int | None = None) -> Path:
    """A FileStore's ``.body``, ``.header`` and ``.seqnums`` files as QuickFIX 1.16 writes
    them; by default message n has MsgSeqNum n and the next one is counted."""
    prefix = store_prefix(folder, SESSION)
    seqs = seqs or list(range(1, len(messages) + 1))
    body, header, offset = [], [], 0
    for seq, text in zip(seqs, messages, strict=True):
        data = text.encode("latin-1")
        header.append(f"{seq},{offset},{len(data)} ")
        body.append(data)
        offset += len(data)
    Path(f"{prefix}body").write_bytes(b"".join(body))
    Path(f"{prefix}header").write_text("".join(header))
    sender = next_sender if next_sender is not None else max(seqs) + 1
    Path(f"{prefix}seqnums").write_text(f"{sender:020d} : {1:020d}")
    return prefix


def test_the_store_prefix_is_quickfix_s_file_name_for_the_session(tmp_path):
    assert store_prefix(tmp_path, SESSION) == tmp_path / "FIX.4.4-OMS-CLIENT1."


def test_a_journal_row_splits_into_fields_even_when_a_text_holds_a_bar():
    # Arrange
    body = "35=8|37=O1|17=E1|58=Refused by broker: a|b 1=2|60=20261207-10:00:00.000"

    # Act
    fields = journal_fields(body)

    # Assert
    assert fields == [("35", "8"), ("37", "O1"), ("17", "E1"),
                      ("58", "Refused by broker: a|b 1=2"), ("60", "20261207-10:00:00.000")]


def test_the_body_key_ignores_the_envelope_and_the_order_of_fields():
    wire = [("8", "FIX.4.4"), ("35", "8"), ("34", "7"), ("43", "Y"), ("17", "E1"),
            ("37", "O1"), ("10", "123")]
    journal = [("37", "O1"), ("17", "E1")]
    assert body_key(wire) == body_key(journal) == (("17", "E1"), ("37", "O1"))


def test_stored_bodies_reads_the_last_application_messages_newest_first(tmp_path):
    # Arrange: a logon, three reports, a heartbeat
    prefix = _write_store(tmp_path, [
        _wire(1, "A", "98=0|108=30"),
        _wire(2, "8", "37=O1|17=E1|150=0"),
        _wire(3, "8", "37=O1|17=E2|150=F"),
        _wire(4, "8", "37=O2|17=E3|150=0"),
        _wire(5, "0", ""),
    ])

    # Act
    last_two = stored_bodies(prefix, 2)
    everything = stored_bodies(prefix, 100)

    # Assert
    assert last_two == {body_key(journal_fields("37=O1|17=E2|150=F")),
                        body_key(journal_fields("37=O2|17=E3|150=0"))}
    assert len(everything) == 3


def test_stored_bodies_reads_an_index_longer_than_one_chunk(tmp_path, monkeypatch):
    # Arrange: a chunk far smaller than the index, so entries are cut between reads
    monkeypatch.setattr(outbox, "_HEADER_CHUNK", 7)
    prefix = _write_store(tmp_path, [_wire(n, "8", f"37=O{n}|17=E{n}") for n in range(1, 40)])

    # Act
    found = stored_bodies(prefix, 1000)

    # Assert
    assert found == {body_key([("37", f"O{n}"), ("17", f"E{n}")]) for n in range(1, 40)}


def test_a_message_stored_but_never_counted_is_not_held_by_the_store(tmp_path):
    # Arrange: killed between storing message 3 and counting it: the next start's Logon
    # takes MsgSeqNum 3 again, so the engine never resends the stored report
    prefix = _write_store(tmp_path, [_wire(n, "8", f"37=O{n}|17=E{n}") for n in (1, 2, 3)],
                          next_sender=3)

    # Act
    found = stored_bodies(prefix, 10)

    # Assert
    assert found == {body_key([("37", f"O{n}"), ("17", f"E{n}")]) for n in (1, 2)}


def test_a_message_whose_number_was_stored_again_is_not_held_by_the_store(tmp_path):
    # Arrange: report 3 stored, then (after the kill) the Logon stored under 3 as well
    prefix = _write_store(tmp_path, [_wire(1, "8", "37=O1|17=E1"), _wire(3, "8", "37=O3|17=E3"),
                                     _wire(3, "A", "98=0|108=30"), _wire(4, "8", "37=O4|17=E4")],
                          seqs=[1, 3, 3, 4])

    # Act
    found = stored_bodies(prefix, 10)

    # Assert
    assert found == {body_key([("37", "O1"), ("17", "E1")]), body_key([("37", "O4"), ("17", "E4")])}


def test_a_missing_store_holds_nothing(tmp_path):
    assert stored_bodies(store_prefix(tmp_path, SESSION), 10) == set()


ROWS = [(4, "8", "35=8|37=O1|17=E4|150=0"), (5, "8", "35=8|37=O1|17=E5|150=F"),
        (6, "8", "35=8|37=O2|17=E6|150=0")]


def test_what_the_store_lacks_is_sent_now_in_order():
    # Arrange: the first candidate reached the engine, the other two did not
    stored = {body_key(journal_fields(ROWS[0][2]))}

    # Act
    result = plan(SESSION, 3, ROWS, stored, restarts_sequence=False)

    # Assert
    assert result.in_store == 1
    assert [(m.outbox_seq, m.msg_type, m.fields) for m in result.send_now] == [
        (5, "8", [(37, "O1"), (17, "E5"), (150, "F")]),
        (6, "8", [(37, "O2"), (17, "E6"), (150, "0")])]
    assert result.hold == []
    assert (result.first, result.last) == (3, 6)
    assert "2 never reached it and are sent now" in result.note


@pytest.mark.parametrize("in_store", [0, 1, 3])
def test_a_session_that_restarts_its_sequence_holds_everything_for_the_logon(in_store):
    # Arrange
    stored = {body_key(journal_fields(body)) for _, _, body in ROWS[:in_store]}

    # Act
    result = plan(SESSION, 3, ROWS, stored, restarts_sequence=True)

    # Assert: what the store shows as sent may have arrived: PossResend
    assert result.send_now == []
    assert [m.outbox_seq for m in result.hold] == [4, 5, 6]
    assert [m.fields[0] == (97, "Y") for m in result.hold] == [
        n < in_store for n in range(3)]
