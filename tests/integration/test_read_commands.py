"""#18: commands that only read the blotter open it read-only and never migrate.

A wrong path must not become a new empty database showing an empty blotter with exit 0; an
un-migrated or older database is refused with the command that fixes it. Run as the real
``oms`` command, from an empty working directory (so no ``fix_config/oms.toml`` is read),
against real SQLite files and PostgreSQL schemas.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from oms.app.records import Batch
from oms.store.db import current_revision, head_revision, make_engine, upgrade
from oms.store.journal import JournalWriter
from tests.integration.test_store import batch_of, children_of, new_order

pytestmark = pytest.mark.slow

READ_COMMANDS = [["orders", "list", "--status", "all", "--json"],
                 ["orders", "show", "O1", "--json"]]


def oms(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and its mtime."""
    return {str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def blotter_with_one_order(url: str) -> None:
    """``url`` migrated, holding the order O1 with its child."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        order = new_order("O1")
        batch = batch_of(order)
        journal = JournalWriter(engine)
        assert journal.write_now(Batch(orders=batch.orders, children=children_of(order),
                                       events=batch.events))
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", READ_COMMANDS, ids=["list", "show"])
def test_a_read_command_on_a_missing_sqlite_file_exits_2_naming_it_and_creates_nothing(
        tmp_path: Path, command: list[str]):
    # Arrange
    work = tmp_path / "work"
    work.mkdir()
    missing = tmp_path / "typo.db"

    # Act
    result = oms(*command, "--database-url", f"sqlite:///{missing}", cwd=work)

    # Assert
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(missing) in result.stderr
    assert "oms db upgrade" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("command", READ_COMMANDS, ids=["list", "show"])
def test_a_read_command_on_an_unmigrated_sqlite_file_exits_2_and_leaves_it_as_it_was(
        tmp_path: Path, command: list[str]):
    # Arrange: a SQLite file that is not a blotter (a table of something else)
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()
    before = files_of(tmp_path)

    # Act
    result = oms(*command, "--database-url", f"sqlite:///{path}", cwd=tmp_path)

    # Assert
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(path) in result.stderr and "never migrated" in result.stderr
    assert files_of(tmp_path) == before


def test_a_read_command_on_an_unmigrated_postgres_schema_exits_2_with_the_password_masked(
        postgres_database_url: str, tmp_path: Path):
    # Arrange: a password in the URL (the test server trusts every login, so it connects)
    url = postgres_database_url.replace("postgres@", "postgres:s3cret-pw@", 1)
    assert "s3cret-pw" in url

    # Act
    result = oms("orders", "list", "--database-url", url, cwd=tmp_path)

    # Assert
    assert result.returncode == 2, result.stdout + result.stderr
    assert "never migrated" in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "postgres:***@" in result.stderr
    engine = make_engine(url)
    try:
        assert current_revision(engine) is None  # nothing was migrated
    finally:
        engine.dispose()


def test_a_read_command_on_an_older_revision_exits_2_and_does_not_upgrade_it(
        database_url: str, tmp_path: Path):
    # Arrange: the blotter of the previous version
    upgrade(database_url, "0003")

    # Act
    result = oms("orders", "list", "--database-url", database_url, cwd=tmp_path)

    # Assert
    assert result.returncode == 2, result.stdout + result.stderr
    assert "revision 0003" in result.stderr and "oms db upgrade" in result.stderr
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == "0003"
    finally:
        engine.dispose()


def test_read_commands_show_a_migrated_blotter_without_writing_to_it(
        database_url: str, tmp_path: Path):
    # Arrange
    blotter_with_one_order(database_url)
    database_file = tmp_path / "oms.db"  # the SQLite variant's file (conftest.py)
    before = database_file.read_bytes() if database_file.exists() else None

    # Act
    listed = oms("orders", "list", "--status", "all", "--json", "--database-url", database_url,
                 cwd=tmp_path)
    shown = oms("orders", "show", "O1", "--json", "--database-url", database_url, cwd=tmp_path)

    # Assert
    assert listed.returncode == 0, listed.stderr
    assert [row["order_id"] for row in json.loads(listed.stdout)] == ["O1"]
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["order"]["cl_ord_id"] == "C-O1"
    assert [child["child_id"] for child in detail["children"]] == ["K-O1"]
    if before is not None:
        assert database_file.read_bytes() == before


def test_db_upgrade_still_creates_and_migrates_a_new_sqlite_file(tmp_path: Path):
    # Arrange
    path = tmp_path / "new.db"

    # Act
    result = oms("db", "upgrade", "--database-url", f"sqlite:///{path}", cwd=tmp_path)
    listed = oms("orders", "list", "--json", "--database-url", f"sqlite:///{path}", cwd=tmp_path)

    # Assert
    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
