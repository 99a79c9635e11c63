"""Fixtures shared by the whole suite: free ports and real databases.

``database_url`` runs a test twice: on a fresh SQLite file and on PostgreSQL, in a schema of
its own that is dropped afterwards. PostgreSQL comes from ``OMS_TEST_DATABASE_URL``; without
it the postgres run is skipped, except when ``CI`` is set: there it fails, so a CI job can
never pass without having tested PostgreSQL. Deselect it with ``-m "not postgres"``.

``engine`` is that database migrated to the latest revision. Nothing here is a mock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

POSTGRES_ENV = "OMS_TEST_DATABASE_URL"


def postgres_base_url() -> str:
    """``OMS_TEST_DATABASE_URL``, or skip (fail under ``CI``) when it is not set."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(
            f"{POSTGRES_ENV} is not set but CI is: PostgreSQL tests must run in CI. Set it, "
            f"e.g. {POSTGRES_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test",
            pytrace=False,
        )
    pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV} to run the postgres variant")


def _sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'oms.db'}"


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """A fresh SQLite file, not yet migrated (for tests that need only one backend)."""
    return _sqlite_url(tmp_path)


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A URL selecting a fresh PostgreSQL schema of its own, dropped after the test."""
    from tests.databases import postgres_schema

    with postgres_schema(postgres_base_url()) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once on SQLite and once on PostgreSQL (see the module doc)."""
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """``database_url`` migrated to head; disposed after the test."""
    from oms.store.db import make_engine, upgrade

    db_engine = make_engine(database_url)
    upgrade(db_engine)
    try:
        yield db_engine
    finally:
        db_engine.dispose()
