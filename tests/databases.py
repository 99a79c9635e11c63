"""Fresh PostgreSQL schemas for tests and test tools (the pytest fixtures in
tests/conftest.py and the crash suite's command line share this)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def postgres_schema(base_url: str, prefix: str = "oms_test") -> Iterator[str]:
    """A URL selecting a fresh schema of its own in ``base_url``'s database, dropped
    afterwards with everything in it."""
    import sqlalchemy as sa

    from oms.store.db import make_engine, normalize_url

    admin = make_engine(base_url, poolclass=sa.pool.NullPool)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = normalize_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with admin.begin() as connection:
                # a test that leaked a connection holding locks must not hang the suite
                connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            admin.dispose()
