"""Why a broker session is not logged on: a plain TCP connect to its host and port.

QuickFIX's initiator retries a broker every ReconnectInterval and tells the application
nothing when the connection fails (no onLogout cause, no errno). An operator needs "cannot
connect to 127.0.0.1:5002: [Errno 111] Connection refused". So while a broker session is
not logged on, ``ConnectWatch`` tries a TCP connection of its own to the broker's address
at most once per reconnect interval and logs a WARNING when the answer changes (and an
INFO when the address accepts connections again): once per change, not once per retry.

It does not speak FIX and does not touch the session: the connection is closed as soon as
it is made. It looks only once the session has been down for ``DOWN_INTERVALS`` reconnect
intervals (a broker that is back at once never sees it), and once the address accepts
connections it stops looking until the session has logged on again: a broker whose logon
fails for another reason (its Logout or Reject says why) sees no connections but
QuickFIX's.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

# look only after the session has been down for this many of its reconnect intervals
DOWN_INTERVALS = 3
PROBE_TIMEOUT_S = 3.0


class LogonState(Protocol):
    def is_logged_on(self, session: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker session and where its initiator connects."""

    name: str
    session: str
    host: str
    port: int
    interval: float  # its ReconnectInterval, seconds


def connect_error(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str:
    """Why a TCP connection to host:port cannot be made ("" if it can)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as exc:
        return str(exc) or type(exc).__name__


class ConnectWatch:
    """A daemon thread that says, once per change, why each broker cannot be reached."""

    def __init__(self, sessions: LogonState, brokers: list[BrokerAddress],
                 probe: Callable[[str, int], str] = connect_error) -> None:
        self.sessions = sessions
        self.brokers = list(brokers)
        self.probe = probe
        # session -> the last probe's answer: "" reachable, else the error; absent: unknown
        self.state: dict[str, str] = {}
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ConnectWatch:
        now = time.monotonic()
        # QuickFIX connects at once: give it its intervals before looking
        self._due = {b.session: now + b.interval * DOWN_INTERVALS for b in self.brokers}
        self._thread = threading.Thread(target=self._run, name="oms-connect-watch",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(PROBE_TIMEOUT_S + 1.0)
            self._thread = None

    def _run(self) -> None:
        step = min([b.interval for b in self.brokers] + [1.0])
        while not self._stop.wait(step):
            now = time.monotonic()
            for broker in self.brokers:
                if now >= self._due[broker.session]:
                    self.check(broker, now)

    def check(self, broker: BrokerAddress, now: float) -> None:
        """Probe one broker if its session is not logged on; log a change of answer."""
        if self.sessions.is_logged_on(broker.session):
            # logged on: the next loss starts afresh, looked at once it has lasted
            self.state.pop(broker.session, None)
            self._due[broker.session] = now + broker.interval * DOWN_INTERVALS
            return
        before = self.state.get(broker.session)
        if before == "":
            # the address accepted connections: QuickFIX's own attempts reach the broker, and
            # why its logon fails is in the session's log lines; look no more until a logon
            self._due[broker.session] = now + broker.interval
            return
        error = self.probe(broker.host, broker.port)
        self._due[broker.session] = now + broker.interval
        self.state[broker.session] = error
        if error == before:
            return
        where = f"broker {broker.name} ({broker.session})"
        address = f"{broker.host}:{broker.port}"
        if error:
            log.warning("%s: cannot connect to %s: %s", where, address, error,
                        extra={"session": broker.session})
        elif before:
            log.info("%s: %s accepts connections again; waiting for the FIX logon", where,
                     address, extra={"session": broker.session})
