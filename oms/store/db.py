"""Engines and migrations: the only place that knows database URLs and connection settings.

``make_engine`` accepts SQLite (``sqlite:///file``; the default needs nothing installed) and
PostgreSQL (``postgresql+psycopg://``; ``postgresql://`` and ``postgres://`` are rewritten to
it). SQLite connections get WAL, ``synchronous=FULL``, foreign keys and a busy timeout (and a
new database 1 KiB pages), and
real transactions (SQLAlchemy emits ``BEGIN``, so savepoints work). ``upgrade`` applies the
Alembic migrations in ``oms/store/migrations`` without any ``alembic.ini``.

This module does not create tables from ``schema.metadata``: the migrations do.
"""

from __future__ import annotations

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


def _sqlite_on_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, **engine_options: Any) -> Engine:
    """Build an engine for ``url`` and check that the database answers.

    The engine may be shared by threads (the journal writer, the CLI, start-up readers).
    ``engine_options`` pass through to ``sqlalchemy.create_engine``. Raises ``StoreError``
    with a sentence an operator can act on when the URL is unsupported or unreachable.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = dict(engine_options.pop("connect_args", {}))
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        if is_memory_sqlite(parsed):
            # one shared connection, or every thread would see its own empty database
            engine_options.setdefault("poolclass", StaticPool)
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_options)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
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
        raise StoreError(f"cannot reach the database at {safe_url(parsed)}: {reason}") from exc
    return engine


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
