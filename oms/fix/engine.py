"""Starting and stopping QuickFIX engines (acceptors and initiators) with our settings.

Message stores are FileStores under the sessions directory, so sequence numbers and resends
survive restarts. The QuickFIX FileLog is optional (``file_log``): the OMS journal already keeps
every application message, and the FileLog costs 5-10% of throughput.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import quickfix as fix

from oms.fix.settings import SessionSpec, write_cfg


def _log_factory(settings: fix.SessionSettings, file_log: bool):  # type: ignore[no-untyped-def]
    return fix.FileLogFactory(settings) if file_log else None


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
        self.cfg_path = cfg_path
        self.application = application
        self.settings = fix.SessionSettings(str(cfg_path))
        self.store_factory = fix.FileStoreFactory(self.settings)
        self.log_factory = _log_factory(self.settings, file_log)
        socket_class = fix.SocketAcceptor if kind == "acceptor" else fix.SocketInitiator
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

    def stop(self, force: bool = False) -> None:
        if self._started:
            self._started = False
            self.engine.stop(force)
