"""Engines and migrations: the only place that knows database URLs and connection settings.

``make_engine`` accepts SQLite (``sqlite:///file``; the default needs nothing installed) and
PostgreSQL (``postgresql+psycopg://``; ``postgresql://`` and ``postgres://`` are rewritten to
it). SQLite connections get WAL, ``synchronous=FULL``, foreign keys and a busy timeout (and a
new database 1 KiB pages), and
real transactions (SQLAlchemy emits ``BEGIN``, so savepoints work). ``upgrade`` applies the
Alembic migrations in ``oms/store/migrations`` without any ``alembic.ini``.
``open_read_only`` is for commands that only look (#18): it never creates or migrates a
database, and refuses one that is missing or not at this code's revision.

This module does not create tables from ``schema.metadata``: the migrations do.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from oms.domain.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Pages of a NEW SQLite database (an existing one keeps its own: in WAL mode the size can't
# change). #3: every commit writes each page it touched to the WAL and fdatasyncs it. A
# 1-message group touches ~10-13 pages (a row and its index entries in orders, executions,
# order_events, fix_sessions), so 4 KiB pages wrote about three times the bytes of 1 KiB
# pages (docs/perf/README.md, "1 KiB SQLite pages"). Rows (an audit line is ~250 bytes)
# still fit a page; longer ones overflow, which SQLite handles.
SQLITE_PAGE_SIZE = 1024
# any constant works; it only has to be the same for every OMS process (pg_advisory_lock)
_MIGRATION_LOCK_KEY = 0x0F1C_0044


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; PostgreSQL URLs are pointed at the psycopg 3 driver.

    Raises ``StoreError`` for anything that is not SQLite or PostgreSQL.
    """
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix) :]
            break
    try:
        parsed = sa.make_url(text)
    except sa.exc.ArgumentError:
        raise StoreError(f"{safe_url(text)!r} is not a database URL") from None
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreError(
            f"unsupported database URL {safe_url(text)!r}: use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host:port/dbname"
        )
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL with any password masked (``***``), for logs, messages and output."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"



def without_password(text: str, url: str | URL) -> str:
    """``text`` (an error from the driver, say) with the URL's password masked wherever it
    appears: drivers may quote the connection string they were given."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return text
    text = text.replace(parsed.render_as_string(hide_password=False), safe_url(parsed))
    password = str(parsed.password or "")
    # a very short password would mask letters of ordinary words, and hides nothing
    return text.replace(password, "***") if len(password) >= 4 else text


def is_memory_sqlite(url: URL) -> bool:
    """True for a SQLite database that lives in memory (one shared connection)."""
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite so SQLAlchemy's BEGIN/SAVEPOINT work as
    # written (the documented pysqlite workaround); then the durability settings.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # before the first write: it sets the size of a new database, a no-op on others
        cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_read_only_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # the durability settings are writes; a reader only waits for the writer's lock
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _read_only_url(parsed: URL) -> URL:
    """``parsed`` opened read-only: SQLite as a ``mode=ro`` URI (which also refuses to
    create a missing file), PostgreSQL with every transaction read-only."""
    if parsed.get_backend_name() == "sqlite":
        if is_memory_sqlite(parsed):
            raise StoreError("an in-memory SQLite database is always empty: nothing to read")
        path = Path(parsed.database or "")
        if not path.is_file():
            raise StoreError(f"no database file {path} (from {safe_url(parsed)}): check the "
                             "URL, or create it with `oms db upgrade`")
        uri = "file:" + urllib.parse.quote(str(path.resolve()))
        return parsed.set(database=uri).update_query_dict({"mode": "ro", "uri": "true"})
    # appended to any options the URL already has (e.g. a search_path)
    options = parsed.query.get("options", "")
    options = options if isinstance(options, str) else " ".join(options)
    return parsed.update_query_dict(
        {"options": f"{options} -c default_transaction_read_only=on".strip()})


def _sqlite_on_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, *, read_only: bool = False, **engine_options: Any) -> Engine:
    """Build an engine for ``url`` and check that the database answers.

    The engine may be shared by threads (the journal writer, the CLI, start-up readers).
    ``read_only``: every connection refuses to write, and a missing SQLite file is an error
    rather than a new empty database. ``engine_options`` pass through to
    ``sqlalchemy.create_engine``. Raises ``StoreError`` with a sentence an operator can act
    on when the URL is unsupported or unreachable.
    """
    shown = safe_url(normalize_url(url))
    parsed = _read_only_url(normalize_url(url)) if read_only else normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = dict(engine_options.pop("connect_args", {}))
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        if is_memory_sqlite(parsed):
            # one shared connection, or every thread would see its own empty database
            engine_options.setdefault("poolclass", StaticPool)
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_options)
        sa.event.listen(engine, "connect",
                        _sqlite_read_only_on_connect if read_only else _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
    else:
        connect_args = dict(engine_options.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", 10)  # seconds; an unreachable host fails
        if "poolclass" not in engine_options:
            engine_options.setdefault("pool_size", 5)
            engine_options.setdefault("max_overflow", 10)
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_options)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot reach the database at {shown}: {reason}") from exc
    return engine


def open_read_only(url: str | URL) -> Engine:
    """A read-only engine on a database this code can read: one that exists and is at the
    newest migration. Raises ``StoreError`` naming the database (its password masked)
    otherwise; nothing is created or migrated, that is `oms db upgrade`'s job."""
    shown = safe_url(normalize_url(url))
    engine = make_engine(url, read_only=True)
    try:
        revision = current_revision(engine)
        head = head_revision()
        if revision != head:
            raise StoreError(f"the database at {shown} {_revision_problem(revision, head)}")
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot read the database at {shown}: {exc}") from exc
    except StoreError:
        engine.dispose()
        raise
    return engine


def _revision_problem(revision: str | None, head: str) -> str:
    if revision is None:
        return "has no OMS tables (never migrated): run `oms db upgrade` on it"
    try:
        known = ScriptDirectory.from_config(_alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        return (f"is at revision {revision}, which this version of the OMS does not know "
                f"(it reads {head}): use the OMS that migrated it")
    return f"is at revision {revision}, older than this code's {head}: run `oms db upgrade`"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at; None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; a no-op when already there. Returns the revision.

    On PostgreSQL an advisory lock serialises OMS processes upgrading at the same time.
    """
    owned = not isinstance(url_or_engine, Engine)
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        config = _alembic_config()
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return current_revision(engine)
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        raise StoreError(f"could not migrate the database at {safe_url(engine.url)}: {exc}") from exc
    finally:
        if owned:
            engine.dispose()


def unreachable(engine: Engine) -> str | None:
    """Why the database does not answer a ``SELECT 1`` now, or None when it does (the admin
    interface's readiness check; it never raises)."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        return str(orig).strip().splitlines()[0] if orig else str(exc)
    return None
