"""QuickFIX session settings built from our config, written as a QuickFIX .cfg file.

QuickFIX reads its settings from a file; we generate that file from ``oms.toml`` (or from a
simulator's options) so that CompIDs, hosts and ports live in one place. The file is written
next to the session stores, which makes it easy to see what the engine was told.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

FIX44 = "FIX.4.4"


def default_data_dictionary() -> Path:
    """The FIX44.xml shipped in fix_config/, else the one quickfix installed."""
    shipped = Path(__file__).resolve().parents[2] / "fix_config" / "FIX44.xml"
    if shipped.exists():
        return shipped
    installed = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
    if installed.exists():
        return installed
    raise FileNotFoundError("no FIX44.xml: expected fix_config/FIX44.xml or quickfix's own")


def yn(flag: bool) -> str:
    return "Y" if flag else "N"


@dataclass
class SessionSpec:
    """One [SESSION] block: the session's identity plus its own settings."""

    sender_comp_id: str
    target_comp_id: str
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Our session key, the same text quickfix's SessionID.toString() gives."""
        return session_key(self.sender_comp_id, self.target_comp_id)


def session_key(sender_comp_id: str, target_comp_id: str) -> str:
    return f"{FIX44}:{sender_comp_id}->{target_comp_id}"


def render_cfg(defaults: Mapping[str, str], sessions: list[SessionSpec]) -> str:
    """Render a QuickFIX settings file."""
    lines = ["[DEFAULT]"]
    lines += [f"{k}={v}" for k, v in defaults.items()]
    for spec in sessions:
        lines += ["", "[SESSION]", f"BeginString={FIX44}",
                  f"SenderCompID={spec.sender_comp_id}", f"TargetCompID={spec.target_comp_id}"]
        lines += [f"{k}={v}" for k, v in spec.settings.items()]
    return "\n".join(lines) + "\n"


def engine_defaults(
    sessions_dir: Path,
    *,
    heartbeat_interval: int = 30,
    socket_nodelay: bool = True,
    file_log: bool = False,
    data_dictionary: Path | None = None,
    start_time: str = "00:00:00",
    end_time: str = "00:00:00",
    check_latency: bool = True,
    max_latency: int = 120,
    persist_messages: bool = True,
    validate_user_defined_fields: bool = True,
) -> dict[str, str]:
    """The [DEFAULT] block every process of ours uses."""
    dictionary = data_dictionary or default_data_dictionary()
    defaults = {
        "FileStorePath": str(sessions_dir / "store"),
        "FileLogPath": str(sessions_dir / "log"),
        "StartTime": start_time,
        "EndTime": end_time,
        "HeartBtInt": str(heartbeat_interval),
        "UseDataDictionary": "Y",
        "DataDictionary": str(dictionary),
        # QuickFIX's default: a user-defined tag (5000-9999) must be in the dictionary
        "ValidateUserDefinedFields": yn(validate_user_defined_fields),
        "AllowUnknownMsgFields": "N",
        "SocketNodelay": yn(socket_nodelay),
        "CheckLatency": yn(check_latency),
        "MaxLatency": str(max_latency),
        "PersistMessages": yn(persist_messages),
        "FileLog": yn(file_log),  # not a quickfix key; read by make_log_factory
    }
    return defaults


def write_cfg(path: Path, defaults: Mapping[str, str], sessions: list[SessionSpec]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_cfg(defaults, sessions))
    return path
