"""#18: why a broker cannot be reached, said once per change, from real TCP connects."""

from __future__ import annotations

import logging
import socket

import pytest

from oms.fix.watch import BrokerAddress, ConnectWatch
from oms.localproc import free_port

SESSION = "FIX.4.4:OMS->BROKER1"


class Sessions:
    """Hand-written stand-in for the FIX application's logon state."""

    def __init__(self) -> None:
        self.up: set[str] = set()

    def is_logged_on(self, session: str) -> bool:
        return session in self.up


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_refused_connection_is_logged_once_then_its_recovery(caplog):
    # Arrange: nobody listens on the broker's port
    caplog.set_level(logging.INFO, logger="oms.fix.watch")
    port = free_port()
    broker = BrokerAddress("SIM", SESSION, "127.0.0.1", port, 1.0)
    watch = ConnectWatch(Sessions(), [broker])

    # Act: three checks while the port is closed, one once it listens
    for now in (1.0, 2.0, 3.0):
        watch.check(broker, now)
    refused = warnings(caplog)
    with socket.create_server(("127.0.0.1", port)):
        watch.check(broker, 4.0)

    # Assert
    assert refused == [f"broker SIM ({SESSION}): cannot connect to 127.0.0.1:{port}: "
                       "[Errno 111] Connection refused"]
    assert caplog.records[-1].levelno == logging.INFO
    assert "accepts connections again" in caplog.records[-1].getMessage()
    assert caplog.records[0].session == SESSION  # type: ignore[attr-defined]


def test_a_logged_on_session_is_not_probed_and_a_later_loss_is_logged_again(caplog):
    caplog.set_level(logging.INFO, logger="oms.fix.watch")
    sessions = Sessions()
    probed: list[tuple[str, int]] = []

    def refused(host: str, port: int) -> str:
        probed.append((host, port))
        return "[Errno 111] Connection refused"

    broker = BrokerAddress("SIM", SESSION, "10.0.0.9", 5002, 5.0)
    watch = ConnectWatch(sessions, [broker], probe=refused)

    watch.check(broker, 0.0)
    sessions.up.add(SESSION)
    watch.check(broker, 5.0)
    sessions.up.clear()
    watch.check(broker, 10.0)

    assert probed == [("10.0.0.9", 5002)] * 2
    assert len(warnings(caplog)) == 2


def test_the_watch_thread_stops(caplog):
    watch = ConnectWatch(Sessions(), [BrokerAddress("SIM", SESSION, "127.0.0.1", free_port(),
                                                    0.05)]).start()
    watch.stop()

    assert watch._thread is None
