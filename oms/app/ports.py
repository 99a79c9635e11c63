"""The interfaces the core talks through; adapters live in ``fix`` and ``store``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from oms.app.records import Batch


@dataclass(slots=True)
class OutMessage:
    """One FIX application message to send: session key, MsgType, body fields in order."""

    session: str
    msg_type: str
    fields: list[tuple[int, str]]
    received_ns: int = 0  # for a child order: when its upstream order arrived (latency)

    def render(self) -> str:
        """The message as ``35=X|tag=value|...`` for the journal."""
        return "35=" + self.msg_type + "|" + "|".join(f"{t}={v}" for t, v in self.fields)


class Sender(Protocol):
    """Sends FIX messages; the core never writes to a socket itself."""

    def send(self, messages: list[OutMessage]) -> None: ...

    def is_logged_on(self, session: str) -> bool: ...


class Journal(Protocol):
    """Writes batches durably, then runs their ``after_commit`` callbacks."""

    def submit(self, batch: Batch) -> None: ...
