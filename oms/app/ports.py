"""The interfaces the core talks through; adapters live in ``fix`` and ``store``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from oms.app.records import Batch


class _TagPrefixes(dict[int, str]):
    """tag -> "tag=", made on first use: a lookup and a concatenation are cheaper than an
    f-string that formats the int tag each time (#3: every outbound field;
    docs/perf/README.md, "FIX messages as text")."""

    def __missing__(self, tag: int) -> str:
        prefix = self[tag] = f"{tag}="
        return prefix


_PREFIX = _TagPrefixes()


@dataclass(slots=True)
class OutMessage:
    """One FIX application message to send: session key, MsgType, body fields in order."""

    session: str
    msg_type: str
    fields: list[tuple[int, str]]
    received_ns: int = 0  # for a child order: when its upstream order arrived (latency)
    outbox_seq: int = 0  # its place in the session's outbox, once journaled (#16)
    _body: str = field(default="", repr=False, compare=False)

    def body(self) -> str:
        """The body fields as FIX text (SOH-separated), built once."""
        if not self._body:
            prefix = _PREFIX
            self._body = "\x01".join([prefix[tag] + value for tag, value in self.fields])
        return self._body

    def render(self) -> str:
        """The message as ``35=X|tag=value|...`` for the journal."""
        return f"35={self.msg_type}|" + self.body().replace("\x01", "|")


class Sender(Protocol):
    """Sends FIX messages; the core never writes to a socket itself."""

    def send(self, messages: list[OutMessage]) -> None: ...

    def is_logged_on(self, session: str) -> bool: ...


class Timers(Protocol):
    """Runs an action later, on another thread: the core thread never sleeps (#16: it
    paces its status queries by having a timer queue the next group as a command)."""

    def call_later(self, delay: float, action: Callable[[], None]) -> None: ...


class Journal(Protocol):
    """Writes batches durably, then runs their ``after_commit`` callbacks."""

    def submit(self, batch: Batch) -> None:
        """Queue the batch for a writer thread (returns at once)."""

    def write_now(self, batch: Batch) -> bool:
        """Commit the batch in the calling thread, then run its callbacks."""
