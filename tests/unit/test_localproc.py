"""free_port: ports a server can bind, away from the ones outgoing connections take."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from oms import localproc
from oms.localproc import free_port


def test_free_ports_are_bindable_distinct_and_below_the_ephemeral_range():
    # Arrange
    low = localproc._ephemeral_low()
    if low is None or low - localproc.LOWEST_PORT < 1_000:
        pytest.skip("no Linux ephemeral port range to stay below")

    # Act
    ports = [free_port() for _ in range(50)]

    # Assert: a source port of an outgoing connection can never be one of these
    assert len(set(ports)) == 50
    assert all(localproc.LOWEST_PORT <= port < low for port in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_a_port_someone_listens_on_is_not_handed_out(monkeypatch):
    # Arrange: a range of exactly one port, and a listener on it
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        monkeypatch.setattr(localproc, "LOWEST_PORT", taken)
        monkeypatch.setattr(localproc, "_ephemeral_low", lambda: taken + 1_000)
        monkeypatch.setattr(localproc._random, "randrange", lambda a, b: taken)

        # Act: every try finds the port taken; the OS picks instead
        port = free_port()

    # Assert
    assert port != taken


def test_without_an_ephemeral_range_the_os_picks(monkeypatch, tmp_path: Path):
    # Arrange
    monkeypatch.setattr(localproc, "EPHEMERAL_RANGE_FILE", tmp_path / "missing")

    # Act
    port = free_port()

    # Assert
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
