"""The journal: makes the core's batches durable, in the core's own thread.

The core calls ``JournalWriter.write_now(batch)`` for each batch it made and takes whatever
arrived meanwhile as its next batch: that is the group commit. The batch is written in ONE
transaction (an upsert for ``orders``, plain inserts for ``executions`` and
``order_events``, the sessions' marks in ``fix_sessions``); only after the commit are the
batch's ``after_commit`` callbacks called, in order: nothing is sent before it is durable.

Failures:
- the database refuses or is unreachable: log at ERROR, roll back, retry the same batch with
  backoff (0.05 s doubling to 2 s) until it commits or ``stop()`` gives up. A batch is never
  dropped and its callbacks never run unless it committed.
- a row is refused for its data (a duplicate broker ExecID, a NULL where none may be, a float
  for an amount): the batch is written again row by row in one transaction, each row in a
  savepoint; only the refused rows are skipped, each logged at ERROR and journaled as an
  ``order_events`` row of kind "error". One bad row must not wedge the OMS.

The upsert only replaces an order row with a snapshot whose ``version`` is at least the
stored one, so a stale snapshot never overwrites a newer state.

This module does not decide what goes into a batch, and does not read anything back.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from oms.app.records import Batch, EventRecord, ExecutionRecord, OrderSnapshot
from oms.domain.errors import StoreError
from oms.store.db import is_memory_sqlite
from oms.store.fastwrite import PostgresGroup, RowWriter
from oms.store.journaled import JOURNALED, Journaled
from oms.store.schema import order_events

log = logging.getLogger(__name__)

RETRY_FIRST_DELAY = 0.05
RETRY_MAX_DELAY = 2.0


def _dialect_insert(dialect_name: str, table: sa.Table) -> Any:
    """The dialect's own INSERT (it has ``excluded`` and ``on_conflict_do_update``)."""
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    raise KeyError(dialect_name)


def statement(line: Journaled, dialect_name: str) -> sa.Insert:
    """The row-by-row path's statement for one table: a plain INSERT, or the same upsert as
    the fast path's (``oms.store.fastwrite``): the columns ``Journaled.updated``, a NULL in
    ``keep_null`` leaving the stored value, only where the stored row is not newer."""
    table = line.table
    if not line.key:
        return table.insert()
    insert = _dialect_insert(dialect_name, table)
    excluded = insert.excluded
    c = table.c
    key = [c[name] for name in line.key]
    if not line.updated:
        return insert.on_conflict_do_nothing(index_elements=key)
    return insert.on_conflict_do_update(
        index_elements=key,
        set_={name: sa.func.coalesce(excluded[name], c[name]) if name in line.keep_null
              else excluded[name] for name in line.updated},
        where=c[line.newer] <= excluded[line.newer] if line.newer else None,
    )


def params_maker(line: Journaled) -> Callable[[Iterable[Any], datetime], list[dict[str, Any]]]:
    """``params(rows, now)``: bind parameters for rows of one table, a dict per row (no ORM
    objects), its constants and, for a stamped table, ``now``."""
    names = line.names
    values: Callable[[Any], Any] = tuple  # tuple rows are their values
    if line.record is not None:
        get = attrgetter(*names)
        values = get if len(names) > 1 else (lambda row: (get(row),))
    constants = dict(line.constants)
    stamp = line.stamp

    def params(rows: Iterable[Any], now: datetime) -> list[dict[str, Any]]:
        fixed = {**constants, stamp: now} if stamp is not None else constants
        return [{**dict(zip(names, values(row), strict=True)), **fixed} for row in rows]

    return params


def _is_data_error(exc: BaseException) -> bool:
    """True when retrying cannot help because a row itself is refused."""
    if isinstance(exc, (sa_exc.IntegrityError, sa_exc.DataError)):
        return True
    # the fast path talks to the driver directly: DBAPI 2 names its exceptions alike
    if any(base.__name__ in ("IntegrityError", "DataError") for base in type(exc).__mro__):
        return True
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        return True  # a value our column types refused while binding
    return isinstance(exc, (TypeError, ValueError, AttributeError))


@dataclasses.dataclass(slots=True)
class _Group:
    """One batch's rows, as the writers take them."""

    tables: list[Sequence[Any]]  # each table's rows, in ``JOURNALED``'s order
    rows: int  # how many, less those that ride along (``Journaled.rides_along``)

    def of(self, table: sa.Table) -> Sequence[Any]:
        return self.tables[_INDEX[table.name]]


_ROWS = [line.rows for line in JOURNALED]
_COUNTED = [index for index, line in enumerate(JOURNALED) if not line.rides_along]
_INDEX = {line.table.name: index for index, line in enumerate(JOURNALED)}


def group_of(batch: Batch) -> _Group:
    """The rows ``batch`` writes, table by table."""
    tables = [rows(batch) for rows in _ROWS]
    return _Group(tables, sum([len(tables[index]) for index in _COUNTED]))


@dataclasses.dataclass(frozen=True, slots=True)
class _RowByRow:
    """One table on the row-by-row path: its statement and its rows' parameters."""

    line: Journaled
    statement: sa.Insert
    params: Callable[[Iterable[Any], datetime], list[dict[str, Any]]]


class JournalWriter:
    """Commits batches in the calling thread (the core's); see the module doc."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "journal-writer",
        keep_durations: int = 10_000,
        checkpoint_interval: float | None = 0.5,
    ) -> None:
        self.engine = engine
        self.on_error = on_error
        self.name = name
        # counters, read by health checks and benchmarks
        self.batches_committed = 0
        self.rows_written = 0
        self.commits = 0
        self.failures = 0  # failed commit attempts
        self.rows_skipped = 0  # rows refused for their data (see the module doc)
        self.batches_abandoned = 0  # never committed because stop() gave up
        self.commit_durations: deque[float] = deque(maxlen=keep_durations)  # seconds
        # rows of each commit, beside its duration: the group commit's batch size (metrics)
        self.commit_rows: deque[int] = deque(maxlen=keep_durations)
        # CPU of the committing thread inside commits (rows, statements, COMMIT and its
        # fdatasync), seconds since start: over a benchmark run, the journal's CPU per order
        self.commit_cpu_s = 0.0
        self.last_error: BaseException | None = None
        self.failing = False  # True from a failed commit until the next success

        self._row_by_row = [_RowByRow(line, statement(line, engine.dialect.name),
                                      params_maker(line)) for line in JOURNALED]
        self._error_rows = self._row_by_row[_INDEX[order_events.name]]
        self._rows = RowWriter(engine.dialect.name)
        self._pg_group = PostgresGroup(self._rows) if self._rows.dialect == "postgresql" \
            else None
        self._raw: Any = None  # the fast path's DBAPI connection, kept between commits
        # one commit at a time, and none once stop() has closed the connection
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._give_up_at = float("inf")
        # SQLite: WAL checkpoints in a thread of their own (see WalCheckpointer)
        self.checkpointer: WalCheckpointer | None = None
        if engine.dialect.name == "sqlite" and checkpoint_interval and \
                not is_memory_sqlite(engine.url):  # a memory database has one connection
            self.checkpointer = WalCheckpointer(engine, checkpoint_interval,
                                                name=f"{name}-checkpoint")

    # --- API for the core ------------------------------------------------------------------
    def start(self) -> None:
        """Start the WAL checkpointer (SQLite files); ``write_now`` works without it."""
        if self.checkpointer is not None and not self._stopping.is_set():
            self.checkpointer.start()

    def write_now(self, batch: Batch) -> bool:
        """Commit ``batch`` in the calling thread, then run its callbacks; the core does its
        own group commit (it takes whatever arrived while it was committing as its next
        batch). A failing commit is retried until it succeeds or ``stop()`` gives up: False
        then, and nothing in the batch was acknowledged. Raises ``StoreError`` once
        ``stop()`` was called. Thread-safe: callers commit one at a time."""
        if not batch:
            return True
        group = group_of(batch)
        with self._lock:
            if self._stopping.is_set():
                raise StoreError("the journal writer is stopped; the batch was not written")
            committed = self._commit_with_retry(group)
            if committed:
                self.batches_committed += 1
            else:
                self.batches_abandoned += 1
        if not committed:
            log.error("journal gave up on a batch of %d rows (last error: %s); nothing in "
                      "it was acknowledged", group.rows, self.last_error)
            return False
        self._acknowledge(batch)
        return True

    def write_inbound_seqs(self, inbound_seqs: dict[str, int]) -> None:
        """Record each session's last inbound MsgSeqNum in a commit of its own (a commit
        writes them only along with rows, so ``write_now`` would skip them). For a clean
        stop, once the core has committed its last batch. Raises ``StoreError`` once
        ``stop()`` was called, the database's error if the commit fails (no retry)."""
        group = group_of(Batch(inbound_seqs=dict(inbound_seqs)))
        with self._lock:
            if self._stopping.is_set():
                raise StoreError("the journal writer is stopped; the marks were not written")
            self._write_group(group)

    def stop(self, timeout: float = 10.0) -> bool:
        """Refuse further batches and give the connection back. True if every batch given
        to ``write_now`` committed.

        A ``write_now`` still failing gives up ``timeout`` seconds from now: its batch is
        logged at ERROR and never acknowledged (its callbacks do not run).
        """
        if not self._stopping.is_set():
            self._give_up_at = time.monotonic() + timeout
            self._stopping.set()
        idle = self._lock.acquire(timeout=timeout + 1.0)
        if idle:
            try:
                self._close_connection()
            finally:
                self._lock.release()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        return idle and self.batches_abandoned == 0

    def _commit_with_retry(self, group: _Group) -> bool:
        delay = RETRY_FIRST_DELAY
        attempt = 0
        while True:
            attempt += 1
            try:
                self._commit(group)
                if self.failing:
                    log.warning("journal commit succeeded after %d attempts", attempt)
                self.failing = False
                return True
            except Exception as exc:
                self.failures += 1
                self.failing = True
                self.last_error = exc
                log.error(
                    "journal commit of %d rows failed, attempt %d, retrying in %.2fs: %s",
                    group.rows,
                    attempt,
                    delay,
                    exc,
                )
                self._report(exc)
            if self._stopping.is_set():
                remaining = self._give_up_at - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
            else:
                self._stopping.wait(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)

    def close_connection(self) -> None:
        """Give the fast path's connection back to the pool (the next commit takes one)."""
        with self._lock:
            self._close_connection()

    def _close_connection(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            self._release(raw)

    def _report(self, exc: BaseException) -> None:
        if self.on_error is None:
            return
        try:
            self.on_error(exc)
        except Exception:
            log.exception("journal on_error callback raised")

    def _commit(self, group: _Group) -> None:
        if not group.rows:
            return
        started = time.perf_counter()
        cpu_started = time.thread_time()
        try:
            written = self._write_group(group)
        except Exception as exc:
            if not _is_data_error(exc):
                raise
            log.error("journal group refused for its data, writing it row by row: %s", exc)
            with self.engine.begin() as connection:
                written = self._write_rows(connection, group)
        self.commit_durations.append(time.perf_counter() - started)
        self.commit_rows.append(written)
        self.commit_cpu_s += time.thread_time() - cpu_started
        self.commits += 1
        self.rows_written += written

    def _write_group(self, group: _Group) -> int:
        """The fast path: plain DBAPI rows (oms.store.fastwrite) in one transaction on a
        connection the writer keeps (a SQLAlchemy transaction per commit was dear where
        commits are small: docs/perf/README.md, "The journal's fast path")."""
        raw = self._raw
        if raw is None:
            raw = self._raw = self.engine.raw_connection()
            assert raw.driver_connection is not None  # a live connection from the pool
            if self._pg_group is not None:
                # the group is one statement, its own transaction: no BEGIN, no COMMIT
                raw.driver_connection.autocommit = True
            elif self.checkpointer is not None and self.checkpointer.running:
                # the checkpointer keeps the WAL short; a commit checkpoints only if it
                # has fallen far behind (SQLite's own default is 1,000 pages)
                raw.driver_connection.execute(
                    f"PRAGMA wal_autocheckpoint = {WalCheckpointer.FALLBACK_PAGES}")
        try:
            cursor = raw.cursor()
            try:
                if self._pg_group is not None:
                    self._pg_group.write(cursor, group.tables)
                else:
                    cursor.execute("BEGIN IMMEDIATE")  # the driver is in autocommit mode
                    self._rows.write(cursor, group.tables)
            finally:
                cursor.close()
            if self._pg_group is None:
                raw.commit()
        except BaseException:
            self._raw = None
            self._release(raw, broken=True)
            raise
        return group.rows

    def _release(self, raw: Any, *, broken: bool = False) -> None:
        """Give the fast path's connection back to the pool as the pool lent it."""
        try:
            if broken:
                raw.rollback()
            if self._pg_group is not None:
                raw.driver_connection.autocommit = False
            raw.close()  # back to the pool; a broken one is discarded by it
        except Exception:
            raw.invalidate()

    def _write_rows(self, connection: Connection, group: _Group) -> int:
        """The slow path: each row in a savepoint; refused rows become error events."""
        errors: list[EventRecord] = []
        written = 0
        now = datetime.now(UTC)
        for table, rows in zip(self._row_by_row, group.tables, strict=True):
            for row in rows:
                try:
                    with connection.begin_nested():
                        connection.execute(table.statement, table.params([row], now))
                    if not table.line.rides_along:
                        written += 1
                except Exception as exc:
                    if not _is_data_error(exc):
                        raise
                    errors.append(self._refused(table.line, row, exc))
        if errors:
            connection.execute(self._error_rows.statement, self._error_rows.params(errors, now))
            written += len(errors)
            self.rows_skipped += len(errors)
        return written

    def _refused(self, line: Journaled, record: Any, exc: BaseException) -> EventRecord:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        order_id: Any
        session: Any
        if isinstance(record, ExecutionRecord):
            what = (
                f"execution {record.exec_id} (broker {record.broker_session or '-'} "
                f"ExecID {record.broker_exec_id or '-'})"
            )
            order_id, session = record.order_id, record.broker_session
        elif isinstance(record, OrderSnapshot):
            what = f"order snapshot {record.order_id} version {record.version}"
            order_id, session = record.order_id, record.session
        elif isinstance(record, EventRecord):
            what = f"audit event {record.kind} {record.msg_type}"
            order_id, session = record.order_id, record.session
        else:
            what = f"{line.table.name} row {record!r}"
            order_id = getattr(record, "order_id", None)
            session = getattr(record, "session", "") or ""
        body = f"journal skipped {what}: {reason}"
        log.error("%s", body)
        return EventRecord(
            ts=datetime.now(UTC),
            kind="error",
            order_id=order_id if isinstance(order_id, str) else None,
            session=session if isinstance(session, str) else "",
            msg_type="",
            body=body,
        )

    @staticmethod
    def _acknowledge(batch: Batch) -> None:
        for callback in batch.after_commit:
            try:
                callback()
            except Exception:
                log.exception("after_commit callback %r raised", callback)


class WalCheckpointer:
    """Checkpoints a SQLite database's WAL from a thread of its own, every ``interval`` s.

    By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages:
    that commit also copies the pages into the database file and syncs it, a stall on the
    order path every ~100 commits (docs/perf/README.md, "The WAL checkpointer thread").
    Here PASSIVE checkpoints, which never wait for or block the writer, run beside
    the commits, and the journal's connection checkpoints itself only past
    ``FALLBACK_PAGES`` (should this thread fall behind or die). Durability is unchanged: a
    checkpoint only moves committed pages from the WAL into the database file.
    """

    FALLBACK_PAGES = 10_000

    def __init__(self, engine: Engine, interval: float, *, name: str = "wal-checkpoint"
                 ) -> None:
        self.engine = engine
        self.interval = interval
        self.name = name
        self.checkpoints = 0  # PASSIVE checkpoints run
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def checkpoint(self, connection: Any) -> None:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpoints += 1

    def _run(self) -> None:
        raw: Any = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    if raw is None:
                        raw = self.engine.raw_connection()
                    self.checkpoint(raw.driver_connection)
                except Exception:
                    self.failures += 1
                    log.warning("WAL checkpoint failed; the next one retries", exc_info=True)
                    if raw is not None:
                        raw.invalidate()
                        raw = None
        finally:
            if raw is not None:
                raw.close()
