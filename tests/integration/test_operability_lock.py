"""#18: one server per state directory.

The real ``oms serve`` in a subprocess holds its sessions directory; a second one started
on the same config exits at once, naming the first, and changes no byte and no mtime of any
file (the first's admin token, QuickFIX settings and stores, the lock file, the database).
The lock goes with the first server, whether it stops or is killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oms.config import OmsConfig, config_to_toml
from oms.localproc import free_port, stop_process
from oms.statelock import StateLock
from tests.integration.stack import wait_until

pytestmark = pytest.mark.slow


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` but the first server's output: bytes and mtime."""
    return {str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != "oms.log"}


def settled(folder: Path) -> dict[str, tuple[bytes, int]]:
    """``files_of(folder)`` once it has not changed for a second: the first server's
    start-up writes (its WAL checkpointer copying the migrations into the database file)
    are over."""
    last = files_of(folder)
    stable_since = time.monotonic()
    deadline = stable_since + 20
    while time.monotonic() - stable_since < 1.0:
        assert time.monotonic() < deadline, "the first server never stopped writing"
        time.sleep(0.2)
        current = files_of(folder)
        if current != last:
            last, stable_since = current, time.monotonic()
    return last


def quiet_config(folder: Path) -> Path:
    """A server with one upstream session and no broker, so nothing reconnects: once
    started, it writes nothing to its sessions directory by itself (with a broker session,
    every reconnect attempt rewrites its store), and any change is the second server's."""
    config = OmsConfig(
        oms={"database_url": f"sqlite:///{folder / 'oms.db'}",
             "sessions_dir": str(folder / "sessions"), "log_level": "WARNING"},
        admin={"port": 0},
        upstream=[{"sender_comp_id": "OMS", "target_comp_id": "CLIENT1", "port": free_port()}],
        brokers=[], routing={"default_route": ""}, base_dir=folder)
    path = folder / "oms.toml"
    path.write_text(config_to_toml(config))
    return path


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The ``oms serve`` processes a test started, stopped after it."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            stop_process(process)


def serve(config_path: Path, servers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """The real ``oms serve``, once its admin token is written (the last step of its start)."""
    token = config_path.parent / "sessions" / "admin.token"
    token.unlink(missing_ok=True)
    log = open(config_path.parent / "oms.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "oms", "serve", "--config",
                                str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    servers.append(process)
    wait_until(lambda: token.exists() or process.poll() is not None, timeout=30)
    assert process.poll() is None, (config_path.parent / "oms.log").read_text()
    return process


def test_a_second_server_on_the_same_directory_exits_naming_the_first_and_changes_nothing(
        servers: list[subprocess.Popen[bytes]], tmp_path: Path):
    # Arrange
    config_path = quiet_config(tmp_path)
    first = serve(config_path, servers)
    sessions = tmp_path / "sessions"
    before = settled(tmp_path)
    assert any(name.endswith(".seqnums") for name in before)  # the stores a second moved
    assert "sessions/admin.token" in before

    # Act: the same config again, as an operator starting it twice would
    second = subprocess.run([sys.executable, "-m", "oms", "serve", "--config",
                             str(config_path)], capture_output=True, text=True, timeout=60)

    # Assert
    assert second.returncode != 0
    message = " ".join((second.stdout + second.stderr).split())
    assert f"PID {first.pid} on host {socket.gethostname()}" in message
    assert str(sessions) in message
    assert files_of(tmp_path) == before
    assert first.poll() is None  # the first one serves on


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_the_directory_is_free_again_once_the_first_server_stops_or_dies(
        servers: list[subprocess.Popen[bytes]], tmp_path: Path, how: str):
    # Arrange
    config_path = quiet_config(tmp_path)
    first = serve(config_path, servers)
    if how == "stop":
        first.terminate()
    else:
        os.kill(first.pid, signal.SIGKILL)
    first.wait(30)

    # Act: a new server on the same directory
    second = serve(config_path, servers)

    # Assert: it took the lock and says so in the lock file
    assert second.poll() is None
    assert f'"pid": {second.pid}' in (tmp_path / "sessions" / "oms.lock").read_text()


def test_a_demo_on_a_directory_whose_server_runs_exits_before_touching_it(tmp_path: Path):
    # Arrange: this process holds the demo directory's sessions, as its running server would
    folder = tmp_path / "demo"
    held = StateLock(folder / "sessions")
    held.acquire()
    try:
        before = files_of(folder)

        # Act
        result = subprocess.run(
            [sys.executable, "-m", "oms", "demo", "--dir", str(folder), "--orders", "1",
             "--quiet"], capture_output=True, text=True, timeout=60)

        # Assert: no config written, no database made, no token removed
        assert result.returncode != 0
        assert f"PID {os.getpid()}" in " ".join(result.stderr.split())
        assert files_of(folder) == before
        assert sorted(p.name for p in folder.iterdir()) == ["sessions"]
    finally:
        held.release()
