"""The journal's hot path: a group's rows written through the DBAPI driver directly.

SQLAlchemy's per-row parameter processing cost about a third of the OMS's CPU under load
(#3, docs/perf/PROFILE.md). Here the SQL text is built once per dialect from the same
``Table`` objects and each record becomes a tuple of the values the database stores:
amounts as exact decimal text (what the ``Amount`` type writes on SQLite) and timestamps
as ISO text in UTC, on a DBAPI connection the journal keeps.

- SQLite: multi-row INSERTs (``RowWriter.write``) inside the transaction the journal opens.
- PostgreSQL: a group is ONE statement (``PostgresGroup``): each table's rows go in as one
  JSON parameter, ``jsonb_array_elements`` turns them back into rows, and data-modifying
  CTEs write the four tables. Sent on a connection in autocommit mode, the statement is its
  own transaction: one round trip and one WAL flush per group commit, where BEGIN, four
  statements and COMMIT took six round trips (docs/perf/README.md, "PostgreSQL: one
  statement per group").

What it does not do: validate values (the records come from the core, typed), or handle a
refused row (the journal falls back to its row-by-row SQLAlchemy path for that).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from typing import Any

import sqlalchemy as sa

from oms.app.records import EventRecord, ExecutionRecord, OrderSnapshot
from oms.store.schema import executions, fix_sessions, order_events, orders
from oms.store.types import Amount, UtcDateTime

Converter = Callable[[Any], Any] | None

# a ``fix_sessions`` row as the journal writes it: name, last inbound MsgSeqNum, the outbox's
# last committed and last sent outbox_seq (None: leave the stored value as it is)
SessionRow = tuple[str, int | None, int | None, int | None]
SESSION_COLUMNS = ("name", "role", "sender_comp_id", "target_comp_id", "status",
                   "last_inbound_seq", "outbox_committed", "outbox_sent", "updated_at")
SESSION_UPSERT = (" ON CONFLICT (name) DO UPDATE SET " + ", ".join(
    f"{name} = coalesce(excluded.{name}, fix_sessions.{name})"
    for name in ("last_inbound_seq", "outbox_committed", "outbox_sent"))
    + ", updated_at = excluded.updated_at")


def session_rows(inbound_seqs: dict[str, int], outbound: dict[str, int],
                 out_sent: dict[str, int]) -> list[SessionRow]:
    """One ``fix_sessions`` row per session a group touched (``SessionRow``)."""
    if not outbound and not out_sent:
        return [(name, seq, None, None) for name, seq in inbound_seqs.items()]
    names = inbound_seqs.keys() | outbound.keys() | out_sent.keys()
    return [(name, inbound_seqs.get(name), outbound.get(name), out_sent.get(name))
            for name in sorted(names)]


def _exact(value: Any) -> Decimal:
    if type(value) is not Decimal or not value.is_finite():
        # a float in a money column is a bug upstream: refuse the row, as Amount does
        raise TypeError(f"amount columns take a finite Decimal, not {value!r}")
    return value


def _amount_text(value: Decimal | None) -> str | None:
    """The exact decimal text of an amount, never an exponent. ``str`` gives the same text
    as ``format(value, "f")`` unless it chose scientific notation (it says so with an
    "E"), and costs less than half as much (#3: ~20 amounts per filled order;
    docs/perf/README.md, "The journal's fast path")."""
    if value is None:
        return None
    text = str(_exact(value))
    return format(value, "f") if "E" in text else text


class _TimeText:
    """datetime -> the text a database stores for it, remembering recent conversions.

    A batch's records share one timestamp, but an order row has two (``created_at``, then
    ``updated_at``): keeping only the last conversion missed twice per order row, and a
    miss costs ten hits (docs/perf/README.md, "The journal's fast path"). Equal instants
    give the same text."""

    MAX_KEPT = 4096  # then start again: the day's orders are not all kept

    def __init__(self) -> None:
        self._texts: dict[datetime, str] = {}

    def __call__(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = self._texts.get(value)
        if text is None:
            if len(self._texts) >= self.MAX_KEPT:
                self._texts.clear()
            text = self._texts[value] = self.text(value)
        return text

    @staticmethod
    def text(value: datetime) -> str:
        raise NotImplementedError


class _SqliteTime(_TimeText):
    """The UTC wall-clock text SQLAlchemy stores on SQLite."""

    @staticmethod
    def text(value: datetime) -> str:
        utc = value if value.tzinfo is UTC or value.tzinfo is None else value.astimezone(UTC)
        # isoformat is C and ~5x faster than strftime; it drops .ffffff when zero
        text = utc.replace(tzinfo=None).isoformat(" ")
        return text if utc.microsecond else text + ".000000"


class _PgTime(_TimeText):
    """ISO 8601 with its UTC offset, for PostgreSQL's timestamptz; a naive datetime is UTC
    already (the OMS's convention)."""

    @staticmethod
    def text(value: datetime) -> str:
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _converters(table: sa.Table, names: Sequence[str], dialect: str) -> list[Converter]:
    # SQLite stores the text the Amount and UtcDateTime types write; PostgreSQL gets the
    # rows as JSON (PostgresGroup), where amounts travel as exact decimal text too
    clock: Converter = _SqliteTime() if dialect == "sqlite" else _PgTime()
    result: list[Converter] = []
    for name in names:
        kind = table.c[name].type
        if isinstance(kind, Amount):
            result.append(_amount_text)
        elif isinstance(kind, UtcDateTime):
            result.append(clock)
        elif isinstance(kind, sa.Boolean) and dialect == "sqlite":
            result.append(_sqlite_bool)
        else:
            result.append(None)
    return result


def _row_maker(record_type: type, table: sa.Table, dialect: str
               ) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The record's field names and a function record -> row tuple, written out for this
    record type (``make(r) = (r.a, conv1(r.b), ...)``, as ``dataclasses`` writes its
    ``__init__``): no per-row loop over the columns that need converting (#3)."""
    names = tuple(f.name for f in dataclasses.fields(record_type))
    converters = _converters(table, names, dialect)
    scope: dict[str, Any] = {}
    values = []
    for index, (name, convert) in enumerate(zip(names, converters, strict=True)):
        if convert is None:
            values.append(f"r.{name}")
        else:
            scope[f"convert_{index}"] = convert
            values.append(f"convert_{index}(r.{name})")
    exec(f"def make(r):\n    return ({', '.join(values)},)\n", scope)  # noqa: S102
    make: Callable[[Any], tuple[Any, ...]] = scope["make"]
    return names, make


def _pg_type(column: sa.Column[Any]) -> str:
    from sqlalchemy.dialects import postgresql

    return column.type.compile(dialect=postgresql.dialect())


def _from_json(table: sa.Table, names: Sequence[str], alias: str) -> str:
    """``SELECT`` the rows of one JSON array parameter (one array per row, values in
    ``names`` order), cast to the columns' types, in the order they were given."""
    values = ", ".join(f"({alias}.r->>{index})::{_pg_type(table.c[name])}"
                       for index, name in enumerate(names))
    return (f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY "
            f"AS {alias}(r, n) ORDER BY {alias}.n")


class PostgresGroup:
    """One statement that writes a whole group on PostgreSQL (see the module doc).

    Each table's rows travel as one JSON parameter: ``json.dumps`` (C) of the row tuples,
    with amounts as exact decimal text. psycopg's adaptation of per-column Python lists
    was pure Python and took half the OMS's Python time under load."""

    def __init__(self, writer: RowWriter) -> None:
        self.writer = writer
        order_names = writer.order_names
        updates = ", ".join(f"{n} = excluded.{n}" for n in order_names if n != "order_id")
        self.sql = (
            f"WITH o AS (INSERT INTO orders ({', '.join(order_names)}) "
            f"{_from_json(orders, order_names, 'o_rows')} "
            f"ON CONFLICT (order_id) DO UPDATE SET {updates} "
            "WHERE orders.version <= excluded.version), "
            f"x AS (INSERT INTO executions ({', '.join(writer.execution_names)}) "
            f"{_from_json(executions, writer.execution_names, 'x_rows')}), "
            f"e AS (INSERT INTO order_events ({', '.join(writer.event_names)}) "
            f"{_from_json(order_events, writer.event_names, 'e_rows')}) "
            f"INSERT INTO fix_sessions ({', '.join(SESSION_COLUMNS)}) "
            "SELECT s_rows.r->>0, '', '', '', '', (s_rows.r->>1)::bigint, "
            "(s_rows.r->>2)::bigint, (s_rows.r->>3)::bigint, %s::timestamptz "
            "FROM jsonb_array_elements(%s::jsonb) AS s_rows(r)"
            f"{SESSION_UPSERT}")

    def params(self, orders_: Sequence[OrderSnapshot], executions_: Sequence[ExecutionRecord],
               events: Sequence[EventRecord], sessions: Sequence[SessionRow]) -> list[Any]:
        """The statement's parameters: a JSON array of rows per table, then the time and
        the sessions' rows (``session_rows``)."""
        writer = self.writer
        dumps = _json_rows
        return [
            dumps([writer._order_row(o) for o in orders_]),
            dumps([writer._execution_row(e) for e in executions_]),
            dumps([writer._event_row(e) for e in events]),
            datetime.now(UTC),
            dumps(sessions),
        ]

    def write(self, cursor: Any, orders_: Sequence[OrderSnapshot],
              executions_: Sequence[ExecutionRecord], events: Sequence[EventRecord],
              sessions: Sequence[SessionRow]) -> None:
        cursor.execute(self.sql, self.params(orders_, executions_, events, sessions))


def _json_rows(rows: Sequence[Any]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


# Rows per multi-row INSERT on SQLite: a group's rows of one table go in chunks of
# SQLITE_BIG_CHUNK, then SQLITE_MID_CHUNK, then one statement for the rest (1 to 15 rows),
# so a small group (the common case below ~2,000 orders/s) is one statement per table. #3:
# each statement is an execute call, a bind loop and a hand-off of the GIL; the old 64/16/4/1
# chunks took 3 statements for 7 rows. The connection's statement cache (128) holds all 68.
SQLITE_BIG_CHUNK = 64
SQLITE_MID_CHUNK = 16
SQLITE_CHUNK_SIZES = (SQLITE_BIG_CHUNK, *range(1, SQLITE_MID_CHUNK + 1))


class RowWriter:
    """Turns a group's records into rows; on SQLite also writes them (see ``write``)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.order_names, self._order_row = _row_maker(OrderSnapshot, orders, dialect)
        self.execution_names, self._execution_row = _row_maker(
            ExecutionRecord, executions, dialect)
        self.event_names, self._event_row = _row_maker(EventRecord, order_events, dialect)
        newer = "orders.version <= excluded.version"
        self._order_sql = _multi_row_sql("orders", self.order_names, _order_upsert(
            [name for name in self.order_names if name != "order_id"], newer))
        # SQLite rewrites the index entries of every indexed column an UPDATE sets, changed
        # or not. Most order rows change state only (a broker's New, a fill), so they are
        # written first with an upsert that sets the other columns and only where the
        # indexed ones are still as stored; a row it leaves alone (a replace's new
        # ClOrdIDs, or a stale snapshot) makes the chunk go again with the full upsert
        # (docs/perf/README.md, "The state-only order upsert").
        indexed = sorted({column.name for index in orders.indexes for column in index.columns})
        state = [name for name in self.order_names if name != "order_id" and name not in indexed]
        self._order_state_sql = _multi_row_sql("orders", self.order_names, _order_upsert(
            state, newer + "".join(f" AND orders.{name} IS excluded.{name}" for name in indexed)))
        self._execution_sql = _multi_row_sql("executions", self.execution_names)
        self._event_sql = _multi_row_sql("order_events", self.event_names)
        self._seq_sql = _multi_row_sql("fix_sessions", SESSION_COLUMNS, SESSION_UPSERT,
                                       row="(?, '', '', '', '', ?, ?, ?, ?)")
        self._seq_time = _converters(fix_sessions, ["updated_at"], dialect)[0]

    def write(self, cursor: Any, orders_: Sequence[OrderSnapshot],
              executions_: Sequence[ExecutionRecord], events: Sequence[EventRecord],
              sessions: Sequence[SessionRow]) -> None:
        """Write the rows on SQLite with a DBAPI cursor, inside the caller's transaction.

        Multi-row INSERTs (``chunk_sizes``) rather than executemany: the sqlite3 module
        lets go of the GIL around every statement step, and under load each of those was a
        hand-off to a QuickFIX thread and a wait to get the GIL back (#3)."""
        if orders_:
            _upsert_orders(cursor, self._order_state_sql, self._order_sql,
                           [self._order_row(o) for o in orders_])
        if executions_:
            _insert_chunks(cursor, self._execution_sql,
                           [self._execution_row(e) for e in executions_])
        if events:
            _insert_chunks(cursor, self._event_sql, [self._event_row(e) for e in events])
        if sessions:
            now = datetime.now(UTC)
            stamp = self._seq_time(now) if self._seq_time is not None else now
            _insert_chunks(cursor, self._seq_sql, [(*row, stamp) for row in sessions])


def _multi_row_sql(table: str, names: Sequence[str], suffix: str = "", row: str = ""
                   ) -> dict[int, str]:
    """INSERT statements for each chunk size: ``{rows: sql}``; ``row`` is one row's VALUES
    (by default a parameter per column)."""
    row = row or f"({', '.join(['?'] * len(names))})"
    return {size: f"INSERT INTO {table} ({', '.join(names)}) VALUES "
                  f"{', '.join([row] * size)}{suffix}"
            for size in SQLITE_CHUNK_SIZES}


def chunk_sizes(count: int) -> list[int]:
    """The statement sizes ``count`` rows are written in, largest first."""
    sizes = [SQLITE_BIG_CHUNK] * (count // SQLITE_BIG_CHUNK)
    rest = count % SQLITE_BIG_CHUNK
    sizes += [SQLITE_MID_CHUNK] * (rest // SQLITE_MID_CHUNK)
    if rest % SQLITE_MID_CHUNK:
        sizes.append(rest % SQLITE_MID_CHUNK)
    return sizes


def _order_upsert(names: Sequence[str], where: str) -> str:
    """The ON CONFLICT clause of an ``orders`` INSERT: set ``names``, where ``where``."""
    return (" ON CONFLICT (order_id) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in names) + f" WHERE {where}")


def _chunks(rows: list[tuple[Any, ...]]) -> Iterator[tuple[int, list[Any]]]:
    """Each statement's row count (``chunk_sizes``) and its parameters, flattened."""
    start = 0
    for size in chunk_sizes(len(rows)):
        end = start + size
        yield size, list(chain.from_iterable(rows[start:end]))
        start = end


def _insert_chunks(cursor: Any, statements: dict[int, str], rows: list[tuple[Any, ...]]) -> None:
    for size, values in _chunks(rows):
        cursor.execute(statements[size], values)


def _upsert_orders(cursor: Any, state: dict[int, str], full: dict[int, str],
                   rows: list[tuple[Any, ...]]) -> None:
    """Each chunk of order rows with the state-only upsert; again with the full one when
    it did not write every row (the driver's rowcount: rows inserted or updated)."""
    for size, values in _chunks(rows):
        cursor.execute(state[size], values)
        if cursor.rowcount != size:
            cursor.execute(full[size], values)
