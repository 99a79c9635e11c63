"""After a commit: the outbox's numbering, and sending a committed batch's messages.

There is one way a batch leaves the core: the core commits it (``Journal.write_now``), then
the batch's one ``after_commit`` callback hands its messages to the FIX engine and runs its
replies, in commit order. A big batch (or one behind a big batch still being sent) goes to
the ``oms-sender`` thread, so the core processes and commits the next batch meanwhile; a
small one is sent at once by the core (docs/perf/README.md, "The sender thread").

#16, the outbox: each session's outbound messages are numbered (``outbox_seq``) in the
order they are committed; how far each session's numbers have been handed to the engine
is journaled with the next batch, so a restart can tell which were never sent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from oms.app.ports import OutMessage, Sender
from oms.app.records import Batch

log = logging.getLogger(__name__)

_STOP = object()


class Outbox:
    """Per session: the outbox_seq of the last message journaled (core thread) and of the
    last one handed to the FIX engine (written by whichever thread sends)."""

    def __init__(self) -> None:
        self.committed: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self._sent_written: dict[str, int] = {}
        self.held: dict[str, list[OutMessage]] = {}  # sent when their session logs on
        self._released: dict[str, int] = {}  # held messages sent in this batch: marks

    def load(self, committed: dict[str, int], sent: dict[str, int]) -> None:
        self.committed.update(committed)
        self.sent.update(sent)
        self._sent_written.update(sent)

    def number(self, message: OutMessage, batch: Batch) -> int:
        """Give ``message`` the next outbox_seq of its session, in ``batch``."""
        session = message.session
        seq = message.outbox_seq = self.committed.get(session, 0) + 1
        self.committed[session] = seq
        batch.outbound[session] = seq
        return seq

    def hold(self, message: OutMessage) -> None:
        """Keep a numbered message for its session's next logon (#19: a cancel or replace
        for a child whose session is down)."""
        self.held.setdefault(message.session, []).append(message)

    def drop_held(self, session: str, cl_ord_id: str) -> OutMessage | None:
        """Take the held message for ``cl_ord_id`` back: it will never be sent. Once none
        is held for the session, its outbox counts as sent through its last message, so a
        restart does not send this one either."""
        held = self.held.get(session, [])
        for index, message in enumerate(held):
            if message.cl_ord_id == cl_ord_id:
                del held[index]
                if not held:
                    del self.held[session]
                    self._released[session] = self.committed.get(session, 0)
                return message
        return None

    def release(self, session: str) -> list[OutMessage]:
        """The messages held for ``session``'s logon, now to be sent (first)."""
        held = self.held.pop(session, None)
        if not held:
            return []
        self._released[session] = self.committed.get(session, 0)
        return held

    def note_sent(self, batch: Batch) -> None:
        """Put how far each session's outbox has been sent into ``batch``, where it moved
        since the last batch: no commit of its own, it rides on the next one."""
        written = self._sent_written
        for session, seq in self.sent.copy().items():  # the sender adds to it
            if written.get(session) != seq:
                written[session] = seq
                batch.out_sent[session] = seq

    def marks(self, batch: Batch) -> dict[str, int]:
        """Where each session's outbox stands once the batch's messages are sent: its last
        message of each session, less sessions whose held messages wait for a logon."""
        marks = batch.outbound
        if self.held:
            marks = {s: seq for s, seq in marks.items() if s not in self.held}
        if self._released:
            marks = dict(marks)
            for session, seq in self._released.items():
                marks[session] = max(marks.get(session, 0), seq)
            self._released = {}
        return marks


Delivery = tuple[list[OutMessage], list[Callable[[], None]], dict[str, int]]


class Deliverer:
    """Sends committed batches' messages and runs their callbacks, in commit order."""

    def __init__(self, sender: Sender, outbox: Outbox, send_ns: Any, *,
                 offload_from: int = 32) -> None:
        self.sender = sender
        self.outbox = outbox
        self.send_ns = send_ns  # a deque of send durations (ns), the core's stats
        self.offload_from = offload_from
        # committed batches waiting for the sender thread; queued/done are each written by
        # one thread only, so queued - done is what that thread has still to send
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._queued = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="oms-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(_STOP)  # after every batch queued for it
        if thread is not None:
            thread.join(timeout)

    def deliver(self, out: list[OutMessage], callbacks: list[Callable[[], None]],
                marks: dict[str, int]) -> None:
        """Under load the sender thread sends (the engine's own work in sendToTarget runs
        without the GIL); a small batch with nothing queued before it is sent now."""
        if self._thread is not None and (len(out) >= self.offload_from
                                         or self._queued != self._done):
            with self._lock:  # against stop(): nothing is queued after its _STOP
                if self._thread is not None:
                    self._queued += 1
                    self._queue.put((out, callbacks, marks))
                    return
        self._send_and_call(out, callbacks, marks)

    def _send_and_call(self, out: list[OutMessage], callbacks: list[Callable[[], None]],
                       marks: dict[str, int]) -> None:
        if out:
            started = time.perf_counter_ns()
            try:
                self.sender.send(out)
            except Exception:
                log.exception("core: sending %d messages failed", len(out))
            else:
                self.outbox.sent.update(marks)
            self.send_ns.append(time.perf_counter_ns() - started)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("core: after-commit callback %r raised", callback)

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            self._send_and_call(*cast(Delivery, item))
            self._done += 1
