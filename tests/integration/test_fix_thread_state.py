"""Callbacks on QuickFIX's own threads keep one Python thread state (#3, oms.fix.engine).

A real acceptor and initiator log on over loopback. On the initiator's thread the logon
runs three callbacks in a row (toAdmin for our Logon, fromAdmin for theirs, onLogon). Each
counts its calls in a ``threading.local``: that dictionary lives in the thread state, so it
survives from one callback to the next only if the thread state does.
"""

from __future__ import annotations

import threading
from pathlib import Path

import quickfix as fix

from oms.fix.engine import CALLBACKS, keeps_thread_state
from oms.localproc import free_port
from oms.sim.common import build_engine, session_spec, stop_engine

WAIT = 10.0  # seconds; generous, nothing here is timed


class CountingApplication(fix.Application):  # type: ignore[misc]
    """Records, per callback, the thread it ran on and how many callbacks that thread's
    ``threading.local`` has seen so far."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()
        self.calls: list[tuple[str, int, int]] = []  # (callback, thread ident, local count)
        self.logged_on = threading.Event()

    def _count(self, name: str) -> None:
        self.local.count = getattr(self.local, "count", 0) + 1
        self.calls.append((name, threading.get_ident(), self.local.count))

    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("onCreate")

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("onLogon")
        self.logged_on.set()

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("onLogout")

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("toAdmin")

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("fromAdmin")

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("toApp")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        self._count("fromApp")


@keeps_thread_state
class KeepingApplication(CountingApplication):
    """The same callbacks, decorated."""

    onCreate = CountingApplication.onCreate  # noqa: N815 (quickfix names)
    onLogon = CountingApplication.onLogon  # noqa: N815
    onLogout = CountingApplication.onLogout  # noqa: N815
    toAdmin = CountingApplication.toAdmin  # noqa: N815
    fromAdmin = CountingApplication.fromAdmin  # noqa: N815
    toApp = CountingApplication.toApp  # noqa: N815
    fromApp = CountingApplication.fromApp  # noqa: N815


def _logon_counts(tmp_path: Path, application: CountingApplication) -> list[int]:
    """Log an initiator running ``application`` on to a plain acceptor; the local counts
    of the callbacks that ran on the initiator's own (QuickFIX) thread during the logon."""
    port = free_port()
    acceptor_app = CountingApplication()
    acceptor = build_engine("acceptor", acceptor_app, tmp_path / "acceptor",
                            [session_spec("BROKER", "CLIENT", True)],
                            {"SocketAcceptPort": str(port)}, heartbeat_interval=30,
                            file_log=False, data_dictionary=None)
    initiator = build_engine("initiator", application, tmp_path / "initiator",
                             [session_spec("CLIENT", "BROKER", True)],
                             {"SocketConnectHost": "127.0.0.1",
                              "SocketConnectPort": str(port), "ReconnectInterval": "1"},
                             heartbeat_interval=30, file_log=False, data_dictionary=None)
    acceptor.start()
    try:
        initiator.start()
        try:
            assert application.logged_on.wait(WAIT), "the initiator did not log on"
        finally:
            stop_engine(initiator)
    finally:
        stop_engine(acceptor)
    main = threading.get_ident()
    logon_thread = next(ident for name, ident, _ in application.calls if name == "onLogon")
    assert logon_thread != main, "onLogon should run on QuickFIX's thread"
    counts = []
    for name, ident, count in application.calls:
        if ident == logon_thread:
            counts.append(count)
        if name == "onLogon":
            break
    return counts


def test_callbacks_on_a_quickfix_thread_share_one_thread_state(tmp_path: Path) -> None:
    # Arrange
    application = KeepingApplication()

    # Act
    counts = _logon_counts(tmp_path, application)

    # Assert: toAdmin, fromAdmin, onLogon saw one thread-local dictionary
    assert len(counts) >= 3
    assert counts == list(range(1, len(counts) + 1))


def test_without_the_decorator_each_callback_gets_a_new_thread_state(tmp_path: Path) -> None:
    # The behaviour of the bindings the decorator exists for: if this ever fails, quickfix
    # keeps thread states itself and keeps_thread_state can go.
    # Arrange
    application = CountingApplication()

    # Act
    counts = _logon_counts(tmp_path, application)

    # Assert
    assert len(counts) >= 3
    assert counts == [1] * len(counts)


def test_the_decorator_wraps_only_the_callbacks_a_class_defines() -> None:
    # Arrange
    @keeps_thread_state
    class OnlyFromApp(fix.Application):  # type: ignore[misc]
        def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> str:  # noqa: N802
            return "handled"

    # Act
    application = OnlyFromApp()

    # Assert
    assert application.fromApp(None, None) == "handled"
    assert OnlyFromApp.fromApp.__wrapped__ is not None
    assert all(name in OnlyFromApp.__dict__ for name in ["fromApp"])
    assert not [name for name in CALLBACKS if name != "fromApp" and name in OnlyFromApp.__dict__]
