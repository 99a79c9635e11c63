"""QuickFIX session settings built from our config, written as a QuickFIX .cfg file.

QuickFIX reads its settings from a file; we generate that file from ``oms.toml`` (or from a
simulator's options) so that CompIDs, hosts and ports live in one place. The file is written
next to the session stores, which makes it easy to see what the engine was told.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

FIX44 = "FIX.4.4"

# #18: QuickFIX keys the OMS writes itself from options of its own, and what to set
# instead. A passthrough setting ([fix.settings], a session's ``settings``) naming one is
# refused rather than allowed to win: the OMS reads several of these values itself (which
# sessions reset at logon, where the message store is, which CompIDs a session has), so a
# second value would leave the engine and the OMS disagreeing. Keys the OMS writes with no
# option behind them (AllowUnknownMsgFields) take the passthrough value.
OWNED_KEYS: dict[str, str] = {
    "BeginString": "the OMS speaks FIX.4.4 only",
    "SenderCompID": "set sender_comp_id",
    "TargetCompID": "set target_comp_id",
    "SessionQualifier": "the OMS tells its sessions apart by their CompIDs alone",
    "ConnectionType": "[[upstream]] sessions are acceptors and [[brokers]] initiators",
    "FileStorePath": "set [oms] sessions_dir",
    "FileLogPath": "set [oms] sessions_dir",
    "FileLog": "set [fix] file_log",
    "DataDictionary": "set [fix] data_dictionary",
    "UseDataDictionary": "set use_data_dictionary in [[upstream]]",
    "HeartBtInt": "set [fix] heartbeat_interval",
    "StartTime": "set [fix] start_time",
    "EndTime": "set [fix] end_time",
    "SocketNodelay": "set [fix] socket_nodelay",
    "CheckLatency": "set [fix] check_latency",
    "MaxLatency": "set [fix] max_latency",
    "PersistMessages": "set [fix] persist_messages",
    "ValidateUserDefinedFields": "set [fix] validate_user_defined_fields",
    "SocketAcceptPort": "set port in [[upstream]]",
    "SocketConnectHost": "set host in [[brokers]]",
    "SocketConnectPort": "set port in [[brokers]]",
    "ReconnectInterval": "set reconnect_interval in [[brokers]]",
    "ResetOnLogon": "set reset_on_logon in [[upstream]] or [[brokers]]",
}
# #18: SSL. quickfix 1.16 reads its SSL keys only in its SSL engines (SSLSocketAcceptor,
# SSLSocketInitiator); which engine runs is chosen in code, not by a key. The OMS takes
# QuickFIX/J's SocketUseSSL (unknown to quickfix C++) as the switch: Y in [fix.settings] or
# a session's settings asks for the SSL engine (oms.fix.engine). The engine is one per
# process side, so all of an engine's sessions ask for SSL or none does. It reads its SSL
# keys from [DEFAULT] only (one TLS context per engine): ``ssl_in_defaults`` moves them there.
USE_SSL = "SocketUseSSL"
SSL_KEYS = (  # the SSL settings quickfix 1.16 names (its bindings' constants)
    "ServerCertificateFile", "ServerCertificateKeyFile",
    "ClientCertificateFile", "ClientCertificateKeyFile",
    "CertificationAuthoritiesFile", "CertificationAuthoritiesDirectory",
    "CertificateRevocationListFile", "CertificateRevocationListDirectory",
    "CertificateVerifyLevel", "SSLProtocol", "SSLCipherSuite", "TLSCipherSuites",
)
_SSL_BY_UPPER = {key.upper() for key in SSL_KEYS}
# QuickFIX reads its keys case-insensitively (it upper-cases them), so the check does too
_OWNED_BY_UPPER = {key.upper(): key for key in OWNED_KEYS}
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def quickfix_value(value: object) -> str:
    """A TOML value as QuickFIX text: booleans as Y/N, numbers and times as written."""
    if isinstance(value, bool):
        return yn(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise ValueError("a QuickFIX value is one line")
        return value
    raise ValueError(f"a QuickFIX value is a string, boolean, number or time, "
                     f"not {type(value).__name__}")


def passthrough(settings: Mapping[str, object], where: str) -> dict[str, str]:
    """QuickFIX settings given in the config, checked and as QuickFIX text.

    ``where`` names the table in errors. Raises ``ValueError`` for a key the OMS sets from
    an option of its own (see ``OWNED_KEYS``), a key that is not a QuickFIX-style name, or
    a value QuickFIX cannot take. Whether QuickFIX knows the key is not checked: it ignores
    keys it does not know, and so do we.
    """
    checked: dict[str, str] = {}
    for key, value in settings.items():
        if not _KEY.match(key):
            raise ValueError(f"{where}: {key!r} is not a QuickFIX setting name")
        owned = _OWNED_BY_UPPER.get(key.upper())
        if owned is not None:
            raise ValueError(f"{where}: {key} is set by the OMS itself; "
                             f"{OWNED_KEYS[owned]}")
        try:
            checked[key] = quickfix_value(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {key}: {exc}") from None
    return checked


def merged(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``overrides`` applied, keys compared as QuickFIX compares them."""
    result = {key: value for key, value in base.items()
              if key.upper() not in {k.upper() for k in overrides}}
    result.update(overrides)
    return result


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


def _get(settings: Mapping[str, str], key: str) -> str | None:
    """``settings[key]`` compared as QuickFIX compares keys (without case), else None."""
    for name, value in settings.items():
        if name.upper() == key.upper():
            return value
    return None


def wants_ssl(defaults: Mapping[str, str], sessions: list[SessionSpec]) -> bool:
    """Whether an engine with these settings must be QuickFIX's SSL engine.

    Raises ``ValueError`` when only some sessions ask for SSL (the engine is all SSL or
    none), or when a session has SSL keys but no ``SocketUseSSL`` at all (they would be
    ignored, and the session would run in the clear while its config looks encrypted).
    """
    asks: dict[str, bool] = {}
    for spec in sessions:
        switch = _get(spec.settings, USE_SSL) or _get(defaults, USE_SSL)
        ssl_keys = sorted({k for k in [*defaults, *spec.settings] if k.upper() in _SSL_BY_UPPER})
        if switch is None and ssl_keys:
            raise ValueError(f"{spec.key}: {', '.join(ssl_keys)} take effect only with "
                             f"{USE_SSL} = true; set it (or false to run in the clear)")
        if switch not in (None, "Y", "N"):
            raise ValueError(f"{spec.key}: {USE_SSL} is true or false, not {switch!r}")
        asks[spec.key] = switch == "Y"
    if len(set(asks.values())) > 1:
        ssl = [key for key, flag in asks.items() if flag]
        plain = [key for key, flag in asks.items() if not flag]
        raise ValueError(f"{USE_SSL}: one QuickFIX engine serves all sessions of a side, "
                         f"so all of them use SSL or none does; SSL: {', '.join(ssl)}; "
                         f"not: {', '.join(plain)}")
    return any(asks.values())


def ssl_in_defaults(defaults: Mapping[str, str],
                    sessions: list[SessionSpec]) -> tuple[dict[str, str], list[SessionSpec]]:
    """The SSL keys given on sessions moved to the engine's [DEFAULT] block, where quickfix
    1.16's SSL engines read them (they look nowhere else: one TLS context per engine; a key
    left on a session is never read, and the engine fails for want of a certificate).

    Raises ``ValueError`` when the sessions of the engine see a key with different values
    (each its own, else the default's): one context cannot hold both."""
    seen: dict[str, dict[str, list[str]]] = {}  # key (upper) -> value -> session keys
    names: dict[str, str] = {}  # key (upper) -> the spelling given
    moved: list[SessionSpec] = []
    for spec in sessions:
        own = {k: v for k, v in spec.settings.items() if k.upper() not in _SSL_BY_UPPER}
        for name in spec.settings:
            if name.upper() in _SSL_BY_UPPER:
                names.setdefault(name.upper(), name)
        moved.append(SessionSpec(spec.sender_comp_id, spec.target_comp_id, own))
    for upper in names:
        for spec in sessions:
            value = _get(spec.settings, upper)
            if value is None:
                value = _get(defaults, upper)
            seen.setdefault(upper, {}).setdefault(
                "<not set>" if value is None else value, []).append(spec.key)
    merged = dict(defaults)
    for upper, values in seen.items():
        if len(values) > 1:
            given = "; ".join(f"{value} ({', '.join(keys)})" for value, keys in values.items())
            raise ValueError(f"{names[upper]}: QuickFIX reads SSL keys once per engine, so "
                             f"the sessions of one side must agree on them; given: {given}")
        for key in [k for k in merged if k.upper() == upper]:
            del merged[key]
        merged[names[upper]] = next(iter(values))
    return merged, moved
