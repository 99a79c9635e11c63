"""Each table the journal writes is defined once (``oms.store.journaled``): its line must
agree with its ``Table``, and everything the journal writes is derived from that line."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from oms.app.records import Batch
from oms.store.fastwrite import TableRows
from oms.store.journaled import JOURNALED, Journaled, of_record
from oms.store.types import Amount, UtcDateTime


def _unique_column_sets(table: sa.Table) -> list[set[str]]:
    sets = [{column.name for column in table.primary_key.columns}]
    sets += [{column.name for column in index.columns} for index in table.indexes
             if index.unique]
    sets += [{column.name for column in constraint.columns}
             for constraint in table.constraints if isinstance(constraint, sa.UniqueConstraint)]
    return sets


@pytest.mark.parametrize("line", JOURNALED, ids=lambda line: line.table.name)
def test_every_journaled_row_writes_the_columns_of_its_table(line: Journaled) -> None:
    # Arrange
    table = line.table
    written = line.columns
    required = {column.name for column in table.columns
                if not column.nullable and column.server_default is None
                and column is not table.autoincrement_column}

    # Assert: no name the table lacks, none twice, every NOT NULL column without a default
    assert set(written) - set(table.c.keys()) == set()
    assert len(set(written)) == len(written)
    assert required - set(written) == set()
    if line.record is not None:
        assert line.names == tuple(field.name for field in dataclasses.fields(line.record))


@pytest.mark.parametrize("line", [line for line in JOURNALED if line.key],
                         ids=lambda line: line.table.name)
def test_every_upsert_is_on_a_unique_key_and_updates_what_its_rows_carry(
        line: Journaled) -> None:
    # Assert
    table = line.table
    assert set(line.key) <= set(line.names)
    assert set(line.key) in _unique_column_sets(table)
    assert line.newer is None or line.newer in line.names
    assert set(line.keep_null) <= set(line.updated)
    assert all(table.c[name].nullable for name in line.keep_null)
    assert not set(line.constants) & set(line.updated)  # a stored row keeps its constants


def test_every_table_is_written_once_and_an_empty_batch_has_no_rows() -> None:
    # Act
    names = [line.table.name for line in JOURNALED]
    rows = [line.rows(Batch()) for line in JOURNALED]

    # Assert
    assert len(set(names)) == len(names)
    assert {"orders", "executions", "order_events", "fix_sessions"} <= set(names)
    assert [len(r) for r in rows] == [0] * len(JOURNALED)


# --- a table added with a Table, a record and a line --------------------------------------
scratch = sa.MetaData()
children = sa.Table(
    "children", scratch,
    sa.Column("child_id", sa.String(), primary_key=True),
    sa.Column("qty", Amount(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_children_note", "note"),
)


@dataclasses.dataclass(slots=True)
class Child:
    child_id: str
    qty: Decimal
    note: str
    version: int
    updated_at: datetime


def test_a_new_line_gets_its_statements_and_rows_from_its_table_and_record() -> None:
    # Arrange: the table, a record and one line; a SQLite database with the table
    line = of_record(children, Child, lambda batch: [], key=("child_id",), newer="version")
    rows = TableRows(line, "sqlite")
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("CREATE TABLE children (child_id TEXT PRIMARY KEY, qty TEXT NOT NULL, "
                       "note TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL)")
    connection.execute("CREATE INDEX ix_children_note ON children (note)")
    at = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    cursor = connection.cursor()

    # Act: a row, a newer one with another note (the full upsert), then a stale one
    rows.write(cursor, [Child("K1", Decimal("1.50"), "a", 1, at)])
    rows.write(cursor, [Child("K1", Decimal("2.50"), "b", 2, at)])
    rows.write(cursor, [Child("K1", Decimal("9"), "c", 1, at)])

    # Assert
    assert connection.execute("SELECT * FROM children").fetchall() == [
        ("K1", "2.50", "b", 2, "2026-12-01 14:30:00.000000")]
    assert rows.sql[1] == (
        "INSERT INTO children (child_id, qty, note, version, updated_at) VALUES "
        "(?, ?, ?, ?, ?) ON CONFLICT (child_id) DO UPDATE SET qty = excluded.qty, "
        "note = excluded.note, version = excluded.version, updated_at = excluded.updated_at "
        "WHERE children.version <= excluded.version")
    assert rows.state_sql is not None and rows.state_sql[1].endswith(
        "DO UPDATE SET qty = excluded.qty, version = excluded.version, "
        "updated_at = excluded.updated_at WHERE children.version <= excluded.version "
        "AND children.note IS excluded.note")
