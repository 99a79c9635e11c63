"""The journal's hot path: a group's rows written through the DBAPI driver directly.

SQLAlchemy's per-row parameter processing cost about a third of the OMS's CPU under load
(#3, docs/perf/PROFILE.md). Here the SQL text is built once per dialect from each table's
line in ``oms.store.journaled`` (as the fallback's statements are), and each record becomes
a tuple of the values the database stores: amounts as exact decimal text (what the
``Amount`` type writes on SQLite) and timestamps as ISO text in UTC, on a DBAPI connection
the journal keeps.

- SQLite: multi-row INSERTs (``RowWriter.write``) inside the transaction the journal opens.
- PostgreSQL: a group is ONE statement (``PostgresGroup``): each table's rows go in as one
  JSON parameter, ``jsonb_array_elements`` turns them back into rows, and data-modifying
  CTEs write the tables. Sent on a connection in autocommit mode, the statement is its
  own transaction: one round trip and one WAL flush per group commit, where BEGIN, four
  statements and COMMIT took six round trips (docs/perf/README.md, "PostgreSQL: one
  statement per group").

What it does not do: validate values (the records come from the core, typed), or handle a
refused row (the journal falls back to its row-by-row SQLAlchemy path for that).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from typing import Any

import sqlalchemy as sa

from oms.store.journaled import JOURNALED, Journaled, sql_literal
from oms.store.types import Amount, UtcDateTime

Converter = Callable[[Any], Any] | None


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


def _row_maker(line: Journaled, dialect: str) -> Callable[[Any], tuple[Any, ...]] | None:
    """A function row -> the tuple of values the database stores, written out for this
    table (``make(r) = (r.a, conv1(r.b), ...)``, as ``dataclasses`` writes its
    ``__init__``): no per-row loop over the columns that need converting (#3). None for
    tuple rows that need no converting: they are written as they are."""
    converters = _converters(line.table, line.names, dialect)
    if line.record is None and not any(converters):
        return None
    scope: dict[str, Any] = {}
    values = []
    for index, (name, convert) in enumerate(zip(line.names, converters, strict=True)):
        value = f"r.{name}" if line.record is not None else f"r[{index}]"
        if convert is None:
            values.append(value)
        else:
            scope[f"convert_{index}"] = convert
            values.append(f"convert_{index}({value})")
    exec(f"def make(r):\n    return ({', '.join(values)},)\n", scope)  # noqa: S102
    make: Callable[[Any], tuple[Any, ...]] = scope["make"]
    return make


def _upsert_clause(line: Journaled, updated: Sequence[str], also: Sequence[str] = ()) -> str:
    """The ON CONFLICT clause of ``line``'s INSERT ("" for a plain INSERT): set ``updated``,
    where the stored row is not newer (``Journaled.newer``) and the conditions ``also``."""
    if not line.key:
        return ""
    key = ", ".join(line.key)
    if not updated:
        return f" ON CONFLICT ({key}) DO NOTHING"
    table = line.table.name
    sets = ", ".join(f"{name} = coalesce(excluded.{name}, {table}.{name})"
                     if name in line.keep_null else f"{name} = excluded.{name}"
                     for name in updated)
    conditions = [f"{table}.{line.newer} <= excluded.{line.newer}"] if line.newer else []
    conditions += also
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f" ON CONFLICT ({key}) DO UPDATE SET {sets}{where}"


def _indexed(table: sa.Table) -> set[str]:
    """The columns an index or a unique constraint of ``table`` covers."""
    names = {column.name for index in table.indexes for column in index.columns}
    names.update(column.name for constraint in table.constraints
                 if isinstance(constraint, sa.UniqueConstraint) for column in constraint.columns)
    return names


class TableRows:
    """One journaled table (``oms.store.journaled``) on one dialect: its rows as the
    database stores them and, on SQLite, the statements that write them."""

    def __init__(self, line: Journaled, dialect: str) -> None:
        self.line = line
        self.make = _row_maker(line, dialect)
        self.stamp: Converter = None
        if line.stamp is not None:
            self.stamp = _converters(line.table, [line.stamp], dialect)[0]
        self.sql: dict[int, str] = {}
        self.state_sql: dict[int, str] | None = None
        if dialect == "sqlite":
            self._sqlite_statements()

    def values(self, rows: Sequence[Any]) -> Sequence[Any]:
        """The rows as tuples of database-ready values (the stamp not included)."""
        make = self.make
        return rows if make is None else [make(r) for r in rows]

    def write(self, cursor: Any, rows: Sequence[Any]) -> None:
        """Write ``rows`` on SQLite with a DBAPI cursor, inside the caller's transaction."""
        values = self.values(rows)
        if self.line.stamp is not None:
            now = datetime.now(UTC)
            stamp = self.stamp(now) if self.stamp is not None else now
            values = [(*row, stamp) for row in values]
        if self.state_sql is not None:
            _upsert_chunks(cursor, self.state_sql, self.sql, values)
        else:
            _insert_chunks(cursor, self.sql, values)

    def _sqlite_statements(self) -> None:
        line = self.line
        table = line.table.name
        placeholders = len(line.names) + (line.stamp is not None)
        row = "(" + ", ".join(["?"] * placeholders
                              + [sql_literal(value) for value in line.constants.values()]) + ")"
        self.sql = _multi_row_sql(table, line.columns, _upsert_clause(line, line.updated), row)
        # SQLite rewrites the index entries of every indexed column an UPDATE sets, changed
        # or not. Most order rows change state only (a broker's New, a fill), so they are
        # written first with an upsert that sets the other columns and only where the
        # indexed ones are still as stored; a row it leaves alone (a replace's new
        # ClOrdIDs, or a stale snapshot) makes the chunk go again with the full upsert
        # (docs/perf/README.md, "The state-only order upsert").
        indexed = sorted(_indexed(line.table).intersection(line.updated))
        if line.key and indexed:
            state = [name for name in line.updated if name not in indexed]
            same = [f"{table}.{name} IS excluded.{name}" for name in indexed]
            self.state_sql = _multi_row_sql(table, line.columns,
                                            _upsert_clause(line, state, same), row)


def _pg_type(column: sa.Column[Any]) -> str:
    from sqlalchemy.dialects import postgresql

    return column.type.compile(dialect=postgresql.dialect())


def _pg_insert(line: Journaled) -> str:
    """``line``'s INSERT of the rows of one JSON array parameter (one array per row, values
    in ``names`` order), cast to the columns' types, in the order they were given; the
    stamp, if any, is a parameter before it."""
    table, alias = line.table, f"{line.table.name}_rows"
    values = [f"({alias}.r->>{index})::{_pg_type(table.c[name])}"
              for index, name in enumerate(line.names)]
    if line.stamp is not None:
        values.append(f"%s::{_pg_type(table.c[line.stamp])}")
    values += [sql_literal(value) for value in line.constants.values()]
    return (f"INSERT INTO {table.name} ({', '.join(line.columns)}) "
            f"SELECT {', '.join(values)} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY "
            f"AS {alias}(r, n) ORDER BY {alias}.n{_upsert_clause(line, line.updated)}")


class PostgresGroup:
    """One statement that writes a whole group on PostgreSQL (see the module doc).

    Each table's rows travel as one JSON parameter: ``json.dumps`` (C) of the row tuples,
    with amounts as exact decimal text. psycopg's adaptation of per-column Python lists
    was pure Python and took half the OMS's Python time under load. An occasional table
    (``Journaled.occasional``) is in the statement only when the group has rows of it:
    one statement per combination met, built the first time."""

    def __init__(self, writer: RowWriter) -> None:
        self.writer = writer
        self._statements: dict[tuple[bool, ...], str] = {}
        self._occasional = [index for index, table in enumerate(writer.tables)
                            if table.line.occasional]
        self.sql = self._statement(self._present([[]] * len(writer.tables)))

    def _present(self, tables: Sequence[Sequence[Any]]) -> tuple[bool, ...]:
        """Which occasional tables have rows in ``tables``."""
        return tuple(bool(tables[index]) for index in self._occasional)

    def _included(self, present: tuple[bool, ...]) -> list[bool]:
        included = [True] * len(self.writer.tables)
        for index, flag in zip(self._occasional, present, strict=True):
            included[index] = flag
        return included

    def _statement(self, present: tuple[bool, ...]) -> str:
        sql = self._statements.get(present)
        if sql is None:
            tables = [table for table, keep in zip(self.writer.tables, self._included(present),
                                                   strict=True) if keep]
            *first, last = [_pg_insert(table.line) for table in tables]
            ctes = ", ".join(f"w_{table.line.table.name} AS ({sql})"
                             for table, sql in zip(tables, first, strict=False))
            sql = self._statements[present] = f"WITH {ctes} {last}" if ctes else last
        return sql

    def params(self, tables: Sequence[Sequence[Any]]) -> list[Any]:
        """The statement's parameters: per table (``JOURNALED``'s order) its stamp if it
        has one, then a JSON array of its rows; an occasional table without rows has none."""
        params: list[Any] = []
        now: datetime | None = None
        included = self._included(self._present(tables)) if self._occasional else None
        for index, (table, rows) in enumerate(zip(self.writer.tables, tables, strict=True)):
            if included is not None and not included[index]:
                continue
            if table.line.stamp is not None:
                now = now or datetime.now(UTC)
                params.append(now)
            params.append(_json_rows(table.values(rows)))
        return params

    def write(self, cursor: Any, tables: Sequence[Sequence[Any]]) -> None:
        sql = self._statement(self._present(tables)) if self._occasional else self.sql
        cursor.execute(sql, self.params(tables))


def _json_rows(rows: Sequence[Any]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


# Rows per multi-row INSERT on SQLite: a group's rows of one table go in chunks of
# SQLITE_BIG_CHUNK, then SQLITE_MID_CHUNK, then one statement for the rest (1 to 15 rows),
# so a small group (the common case below ~2,000 orders/s) is one statement per table. #3:
# each statement is an execute call, a bind loop and a hand-off of the GIL; the old 64/16/4/1
# chunks took 3 statements for 7 rows. The connection's statement cache (128) holds them
# all: 17 per table, orders' twice (85).
SQLITE_BIG_CHUNK = 64
SQLITE_MID_CHUNK = 16
SQLITE_CHUNK_SIZES = (SQLITE_BIG_CHUNK, *range(1, SQLITE_MID_CHUNK + 1))


class RowWriter:
    """Turns a group's records into rows, one ``TableRows`` per line of ``JOURNALED``; on
    SQLite also writes them (see ``write``)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.tables = [TableRows(line, dialect) for line in JOURNALED]

    def table(self, name: str) -> TableRows:
        return next(table for table in self.tables if table.line.table.name == name)

    def write(self, cursor: Any, tables: Sequence[Sequence[Any]]) -> None:
        """Write each table's rows (``JOURNALED``'s order) on SQLite with a DBAPI cursor,
        inside the caller's transaction.

        Multi-row INSERTs (``chunk_sizes``) rather than executemany: the sqlite3 module
        lets go of the GIL around every statement step, and under load each of those was a
        hand-off to a QuickFIX thread and a wait to get the GIL back (#3)."""
        for table, rows in zip(self.tables, tables, strict=True):
            if rows:
                table.write(cursor, rows)


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


def _chunks(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, list[Any]]]:
    """Each statement's row count (``chunk_sizes``) and its parameters, flattened."""
    start = 0
    for size in chunk_sizes(len(rows)):
        end = start + size
        yield size, list(chain.from_iterable(rows[start:end]))
        start = end


def _insert_chunks(cursor: Any, statements: dict[int, str],
                   rows: Sequence[tuple[Any, ...]]) -> None:
    for size, values in _chunks(rows):
        cursor.execute(statements[size], values)


def _upsert_chunks(cursor: Any, state: dict[int, str], full: dict[int, str],
                   rows: Sequence[tuple[Any, ...]]) -> None:
    """Each chunk of rows with the state-only upsert; again with the full one when it did
    not write every row (the driver's rowcount: rows inserted or updated)."""
    for size, values in _chunks(rows):
        cursor.execute(state[size], values)
        if cursor.rowcount != size:
            cursor.execute(full[size], values)
