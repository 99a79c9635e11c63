"""What the journal writes: one line per table, naming the row each of its rows is.

``JOURNALED`` lists the tables a commit writes, in the order it writes them. For each: the
``Table`` (``oms.store.schema``), the columns a row carries (the fields of its record in
``oms.app.records``, or for ``fix_sessions`` a declared list), where a batch keeps those rows,
and how a row already stored is updated. The fast path (``oms.store.fastwrite``: SQLite's
multi-row statements, PostgreSQL's one statement per group) and the row-by-row fallback
(``oms.store.journal``) build their SQL and parameters from it, once per dialect.

A new table the journal writes: a ``Table`` in ``schema`` (and its migration), a record whose
fields are named after its columns, a field of ``Batch`` holding the records, and a line
here. ``tests/unit/store/test_journaled.py`` checks every line against its ``Table``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from oms.app.records import (
    ArrivalQuote,
    Batch,
    ChildSnapshot,
    DropCopyBreak,
    DropCopyRecord,
    EventRecord,
    ExecutionRecord,
    FillFee,
    OrderSnapshot,
    PositionRecord,
)
from oms.store.schema import (
    child_orders,
    drop_copies,
    dropcopy_breaks,
    executions,
    fill_fees,
    fix_sessions,
    order_arrivals,
    order_events,
    orders,
    positions,
)


@dataclasses.dataclass(frozen=True)
class Journaled:
    """How the journal writes one table."""

    table: sa.Table
    # the columns each row carries, in the order of its values: a record's fields (read by
    # name), or the items of a tuple
    names: tuple[str, ...]
    rows: Callable[[Batch], Sequence[Any]]  # a batch's rows of this table
    record: type | None = None  # the dataclass whose fields are ``names``; None: tuples
    # an upsert's conflict columns; empty: a plain INSERT
    key: tuple[str, ...] = ()
    # upsert: a stored row is replaced only by one whose value here is at least the stored
    newer: str | None = None
    # upsert: these columns given as NULL leave the stored value as it is
    keep_null: tuple[str, ...] = ()
    # columns every row writes with the same value (never updated by an upsert)
    constants: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # a column given the commit's time (one value per commit, not one per row)
    stamp: str | None = None
    # bookkeeping written with the rows of a commit, never alone and not counted as rows
    rides_along: bool = False
    # rows only some servers ever write (#19: drop copies): PostgreSQL's one statement per
    # group names the table only when the group has rows of it, so the order path of a
    # server without them carries no empty part for it
    occasional: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column an INSERT names: the row's values, the stamp, the constants."""
        return (*self.names, *((self.stamp,) if self.stamp else ()), *self.constants)

    @property
    def updated(self) -> tuple[str, ...]:
        """The columns an upsert sets on a row already stored."""
        given = (*self.names, *((self.stamp,) if self.stamp else ()))
        return tuple(name for name in given if name not in self.key)


def of_record(table: sa.Table, record: type, rows: Callable[[Batch], Sequence[Any]],
              **how: Any) -> Journaled:
    """A table whose rows are ``record`` instances: their fields are its columns."""
    names = tuple(field.name for field in dataclasses.fields(record))
    return Journaled(table, names, rows, record=record, **how)


# a ``fix_sessions`` row as the journal writes it: name, last inbound MsgSeqNum, the outbox's
# last committed and last sent outbox_seq (None: leave the stored value as it is)
SessionRow = tuple[str, int | None, int | None, int | None]


def session_rows(batch: Batch) -> list[SessionRow]:
    """One ``fix_sessions`` row per session a batch touched (``SessionRow``)."""
    inbound_seqs, outbound, out_sent = batch.inbound_seqs, batch.outbound, batch.out_sent
    if not outbound and not out_sent:
        return [(name, seq, None, None) for name, seq in inbound_seqs.items()]
    names = inbound_seqs.keys() | outbound.keys() | out_sent.keys()
    return [(name, inbound_seqs.get(name), outbound.get(name), out_sent.get(name))
            for name in sorted(names)]


_SESSION_MARKS = ("last_inbound_seq", "outbox_committed", "outbox_sent")

JOURNALED: tuple[Journaled, ...] = (
    of_record(orders, OrderSnapshot, lambda batch: list(batch.orders.values()),
              key=("order_id",), newer="version"),
    # #20: written with an order's first row, only by servers with market data
    of_record(order_arrivals, ArrivalQuote, lambda batch: batch.arrivals, occasional=True),
    of_record(child_orders, ChildSnapshot, lambda batch: list(batch.children.values()),
              key=("order_id", "child_id"), newer="version"),
    of_record(executions, ExecutionRecord, lambda batch: batch.executions),
    of_record(order_events, EventRecord, lambda batch: batch.events),
    of_record(drop_copies, DropCopyRecord, lambda batch: batch.drop_copies, occasional=True),
    of_record(dropcopy_breaks, DropCopyBreak, lambda batch: batch.dropcopy_breaks,
              occasional=True),
    # #21: the positions a batch changed (a row per account and symbol, not per fill) and
    # the fees of its fills
    of_record(positions, PositionRecord, lambda batch: list(batch.positions.values()),
              key=("account", "symbol"), occasional=True),
    of_record(fill_fees, FillFee, lambda batch: batch.fees, occasional=True),
    # the sequence and outbox marks; nothing fills the session's other columns yet: a row
    # the journal creates has them empty, and its upserts leave them as they are
    Journaled(fix_sessions, ("name", *_SESSION_MARKS), session_rows, key=("name",),
              keep_null=_SESSION_MARKS, stamp="updated_at", rides_along=True,
              constants={"role": "", "sender_comp_id": "", "target_comp_id": "",
                         "status": ""}),
)


def sql_literal(value: str) -> str:
    """A constant's SQL text (constants are text: the empty value of a NOT NULL column)."""
    if not isinstance(value, str):
        raise TypeError(f"journaled constants are text, not {value!r}")
    return "'" + value.replace("'", "''") + "'"
