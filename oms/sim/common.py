"""Small pieces the simulators share: FIX value formatting and engine plumbing.

What it does: formats Decimals and UTC timestamps the way FIX wants them, copies a quickfix
SessionID so it outlives a callback, builds the settings for a simulator's acceptor or
initiator, and stops an engine without QuickFIX's whole-second waits.
What it does not do: any order logic; that lives in ``broker.py`` and ``client.py``.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import quickfix as fix

if threading.current_thread() is threading.main_thread():
    # importing quickfix 1.16 resets SIGINT to the C default, so Ctrl-C would kill a
    # simulator without its cleanup; give Python its KeyboardInterrupt back
    signal.signal(signal.SIGINT, signal.default_int_handler)

from oms.fix.engine import Engine
from oms.fix.settings import SessionSpec, engine_defaults, yn

ZERO = Decimal(0)
TERMINAL_ORD_STATUSES = frozenset({"2", "4", "8", "C"})  # Filled, Canceled, Rejected, Expired


def fix_decimal(value: Decimal) -> str:
    """A Decimal as FIX text: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def utc_timestamp() -> str:
    """Now as a FIX UTCTimestamp with milliseconds, e.g. 20240102-13:14:15.123."""
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def new_message(msg_type: str) -> fix.Message:
    msg = fix.Message()
    header = msg.getHeader()
    header.setField(8, "FIX.4.4")
    header.setField(35, msg_type)
    return msg


def run_prefix() -> str:
    """A short prefix unique to this run, so ids stay unique across restarts."""
    return format(int(time.time() * 1000) % 10**10, "x")


def build_engine(
    kind: str,
    application: fix.Application,
    sessions_dir: Path,
    sessions: list[SessionSpec],
    connection: dict[str, str],
    *,
    heartbeat_interval: int,
    file_log: bool,
    data_dictionary: Path | None,
) -> Engine:
    """An Engine whose cfg and FileStore live under ``sessions_dir``."""
    defaults = engine_defaults(
        sessions_dir,
        heartbeat_interval=heartbeat_interval,
        file_log=file_log,
        data_dictionary=data_dictionary,
    )
    defaults.update(connection)
    return Engine(kind, application, sessions_dir / f"{kind}.cfg", defaults, sessions)


def session_spec(sender: str, target: str, reset_on_logon: bool) -> SessionSpec:
    return SessionSpec(sender, target, {"ResetOnLogon": yn(reset_on_logon)})


def stop_engine(engine: Engine, timeout: float = 2.0) -> None:
    """Stop an engine after a Logout exchange, without QuickFIX's whole-second waits.

    An initiator stopped with force still sends Logout on its next tick and reads the
    answer before its thread ends (under 1 s), which is quicker than logging out first.
    An acceptor logs its sessions out and waits up to ``timeout`` s for the answers.
    """
    if engine.kind == "initiator":
        engine.stop(force=True)
    else:
        engine.stop(timeout=timeout)
