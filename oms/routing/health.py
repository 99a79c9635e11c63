"""``SessionHealth`` of today: a session is up between its logon and its logout.

The core feeds it the logon and logout commands in the order the FIX layer queued them, so
every decision in a batch sees the sessions as the core's own history has them. Heartbeat
latency and failover (#19) refine this.
"""

from __future__ import annotations

from collections.abc import Iterable


class SessionStates:
    """``SessionHealth``: the set of sessions logged on."""

    def __init__(self, up: Iterable[str] = ()) -> None:
        self._up = set(up)

    def logged_on(self, session: str) -> None:
        self._up.add(session)

    def logged_out(self, session: str) -> None:
        self._up.discard(session)

    def is_up(self, session: str) -> bool:
        return session in self._up
