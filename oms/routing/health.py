"""``SessionHealth``: a session is up between its logon and its logout, except while a
TestRequest we sent waits for an answer (#19).

The core feeds it the logon, logout and TestRequest commands in the order the FIX layer
queued them, so every decision in a batch sees the sessions as the core's own history has
them. QuickFIX sends a TestRequest when the counterparty has been silent for its heartbeat
interval and a little more, and drops the connection if that goes unanswered as long again:
in between, the session is suspect and the router sends new orders elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable


class SessionStates:
    """``SessionHealth``: the set of sessions logged on and answering."""

    def __init__(self, up: Iterable[str] = ()) -> None:
        self._logged_on = set(up)
        self._unanswered: set[str] = set()
        self._up = set(self._logged_on)  # logged on and not unanswered: what is_up reads

    def logged_on(self, session: str) -> None:
        self._logged_on.add(session)
        self._unanswered.discard(session)  # a new connection: nothing waits for an answer
        self._up.add(session)

    def logged_out(self, session: str) -> None:
        self._logged_on.discard(session)
        self._unanswered.discard(session)
        self._up.discard(session)

    def unanswered(self, session: str) -> None:
        if session in self._logged_on:
            self._unanswered.add(session)
            self._up.discard(session)

    def answered(self, session: str) -> None:
        self._unanswered.discard(session)
        if session in self._logged_on:
            self._up.add(session)

    def is_up(self, session: str) -> bool:
        return session in self._up

    def is_unanswered(self, session: str) -> bool:
        return session in self._unanswered
