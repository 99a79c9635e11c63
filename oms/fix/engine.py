"""Starting and stopping QuickFIX engines (acceptors and initiators) with our settings.

Message stores are FileStores under the sessions directory, so sequence numbers and resends
survive restarts. The QuickFIX FileLog is optional (``file_log``): the OMS journal already keeps
every application message, and the FileLog costs 5-10% of throughput.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import quickfix as fix

from oms.fix.settings import FIX44, SessionSpec, write_cfg


def _log_factory(settings: fix.SessionSettings, file_log: bool):  # type: ignore[no-untyped-def]
    return fix.FileLogFactory(settings) if file_log else None


def copy_session_id(session_id: fix.SessionID) -> fix.SessionID:
    """A SessionID we own: the one quickfix passes to a callback dies with the callback."""
    return fix.SessionID(
        session_id.getBeginString().getValue(),
        session_id.getSenderCompID().getValue(),
        session_id.getTargetCompID().getValue(),
    )


class Engine:
    """An acceptor or initiator plus the objects quickfix needs kept alive."""

    def __init__(
        self,
        kind: str,
        application: fix.Application,
        cfg_path: Path,
        defaults: Mapping[str, str],
        sessions: list[SessionSpec],
    ) -> None:
        if kind not in ("acceptor", "initiator"):
            raise ValueError(kind)
        merged = dict(defaults)
        merged["ConnectionType"] = kind
        file_log = merged.pop("FileLog", "N") == "Y"
        write_cfg(cfg_path, merged, sessions)
        Path(merged["FileStorePath"]).mkdir(parents=True, exist_ok=True)
        if file_log:
            Path(merged["FileLogPath"]).mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.cfg_path = cfg_path
        self.sessions = list(sessions)
        self.application = application
        self.settings = fix.SessionSettings(str(cfg_path))
        self.store_factory = fix.FileStoreFactory(self.settings)
        self.log_factory = _log_factory(self.settings, file_log)
        # Acceptors are ThreadedSocketAcceptors (a thread per connection): quickfix 1.16's
        # SocketAcceptor::stop closes its server while its own thread deletes it, a race
        # that crashed the process in our tests (SocketServer::close on freed memory).
        socket_class = fix.ThreadedSocketAcceptor if kind == "acceptor" else fix.SocketInitiator
        if self.log_factory is not None:
            self.engine = socket_class(
                application, self.store_factory, self.settings, self.log_factory
            )
        else:
            self.engine = socket_class(application, self.store_factory, self.settings)
        self._started = False

    def start(self) -> None:
        self.engine.start()
        self._started = True

    def session_ids(self) -> list[fix.SessionID]:
        return [fix.SessionID(FIX44, spec.sender_comp_id, spec.target_comp_id)
                for spec in self.sessions]

    def stop(self, force: bool = False, timeout: float = 2.0) -> None:
        """Log the sessions out (unless ``force``), wait up to ``timeout`` s, then stop.

        quickfix's own graceful stop polls for the logouts in whole-second sleeps (up to
        10 s), so we send the Logouts ourselves and then stop with force.
        """
        if not self._started:
            return
        self._started = False
        if not force:
            live = [fix.Session.lookupSession(sid) for sid in self.session_ids()]
            live = [session for session in live if session is not None and session.isLoggedOn()]
            for session in live:
                session.logout("server stopping")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(s.isLoggedOn() for s in live):
                time.sleep(0.01)
        self.engine.stop(True)
