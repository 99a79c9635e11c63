"""Alembic environment for the OMS blotter, configured from code (no alembic.ini).

``oms.store.db.upgrade`` passes an open connection in ``config.attributes["connection"]``.
Without one (the ``alembic`` command line, with an ini whose script_location points here)
it connects to ``-x url=...`` or ``sqlalchemy.url``. Offline (SQL script) mode is not
supported.
"""

from __future__ import annotations

from alembic import context

from oms.store.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTER in later migrations
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from oms.store.db import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database with -x url=... or sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
