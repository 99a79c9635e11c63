"""The state directory's lock (oms/statelock.py), on real files in a temporary directory.

flock locks belong to an open file, so two ``StateLock``s in one process exclude each other
as two processes would.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from oms.statelock import LOCK_NAME, StateDirectoryInUse, StateLock, holder


def test_a_second_lock_on_the_directory_is_refused_naming_the_first_and_writes_nothing(
        tmp_path: Path):
    # Arrange
    first = StateLock(tmp_path / "sessions")
    first.acquire()
    lock_file = tmp_path / "sessions" / LOCK_NAME
    before = lock_file.read_bytes(), lock_file.stat().st_mtime_ns

    # Act
    with pytest.raises(StateDirectoryInUse) as refused:
        StateLock(tmp_path / "sessions").acquire()

    # Assert
    assert refused.value.holder["pid"] == os.getpid()
    assert f"PID {os.getpid()} on host {socket.gethostname()}" in str(refused.value)
    assert (lock_file.read_bytes(), lock_file.stat().st_mtime_ns) == before
    first.release()


def test_a_released_lock_can_be_taken_again_and_names_its_new_holder(tmp_path: Path):
    # Arrange
    first = StateLock(tmp_path)
    first.acquire()
    first.release()

    # Act
    second = StateLock(tmp_path)
    second.acquire()

    # Assert
    assert second.held and not first.held
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    second.release()
    assert (tmp_path / LOCK_NAME).read_text() == ""


def test_holder_tells_who_holds_the_directory_and_creates_nothing(tmp_path: Path):
    # Arrange
    lock = StateLock(tmp_path / "held")

    # Act
    nobody_yet = holder(tmp_path / "held")
    lock.acquire()
    while_held = holder(tmp_path / "held")
    lock.release()
    after = holder(tmp_path / "held")

    # Assert
    assert nobody_yet is None and after is None
    assert while_held is not None and while_held["host"] == socket.gethostname()
    assert holder(tmp_path / "missing") is None
    assert not (tmp_path / "missing").exists()
