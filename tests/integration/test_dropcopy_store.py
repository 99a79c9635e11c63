"""#19: the drop-copy tables on real databases: migration 0005, and the journal writing
drop copies and breaks in a batch's one commit, with its inbound sequence numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from oms.app.records import Batch, DropCopyBreak, DropCopyRecord
from oms.store import JournalWriter, current_revision, make_engine, upgrade
from oms.store.dropcopy import acknowledge, list_breaks
from oms.store.schema import drop_copies, dropcopy_breaks, fix_sessions

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
DROP = "FIX.4.4:OMSDC->BROKER1"


def test_0005_adds_dropcopy_breaks_to_a_blotter_of_the_previous_version(
        database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0004")
        assert not sa.inspect(engine).has_table("dropcopy_breaks")

        upgrade(engine, "0005")

        assert current_revision(engine) == "0005"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("dropcopy_breaks")}
        assert columns == {c.name for c in dropcopy_breaks.columns}
    finally:
        engine.dispose()


def test_drop_copies_and_breaks_commit_with_the_batch_and_a_break_is_acknowledged_once(
        database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    journal = JournalWriter(engine, checkpoint_interval=None)
    try:
        copy = DropCopyRecord(T0, DROP, "BX1", "F", "2", "K1", "BRK-1", "ACC1", "IBM", "1",
                              Decimal("100.25"), Decimal("10.5"), T0, "35=8|17=BX1|797=Y")
        found = DropCopyBreak(T0, "qty", DROP, "SIM", "BX1", "E1", "O1", "IBM", "1",
                              Decimal("100.25"), Decimal("10.5"), "qty: drop copy 100.25, "
                              "ours 100")
        missing = DropCopyBreak(T0, "missing", "", "SIM", "BX2", "E2", "O1", "IBM", "1",
                                Decimal(5), None, "no copy")

        assert journal.write_now(Batch(drop_copies=[copy], dropcopy_breaks=[found, missing],
                                       inbound_seqs={DROP: 42}))
        assert journal.write_now(Batch(drop_copies=[copy]))  # one table alone, too

        with engine.connect() as connection:
            stored = connection.execute(sa.select(drop_copies)).mappings().all()
            seq = connection.execute(sa.select(fix_sessions.c.last_inbound_seq).where(
                fix_sessions.c.name == DROP)).scalar_one()
        assert [(r["broker_exec_id"], r["last_qty"], r["transact_time"], r["raw"])
                for r in stored] == [("BX1", Decimal("100.25"), T0, "35=8|17=BX1|797=Y")] * 2
        assert seq == 42
        rows = list_breaks(engine)
        assert [(r["kind"], r["qty"], r["px"], r["acked_at"], r["ack_comment"])
                for r in rows] == [("qty", Decimal("100.25"), Decimal("10.5"), None, ""),
                                   ("missing", Decimal(5), None, None, "")]
        settled = acknowledge(engine, rows[0]["id"], "checked", now=T0)
        assert (settled["acked_at"], settled["ack_comment"]) == (T0, "checked")
        assert [r["kind"] for r in list_breaks(engine)] == ["missing"]
        assert len(list_breaks(engine, include_acked=True)) == 2
    finally:
        journal.stop()
        engine.dispose()
