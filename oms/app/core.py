"""The core: one thread applying commands to the orders, in arrival order.

For each command the core checks it, moves the order through its state table, and
publishes what happened (``oms.app.events``); the subscribers add the journal's rows and
the messages to send (``oms.app.reports``). Commands are taken in groups: everything
waiting in the queue (up to ``max_batch``) becomes one ``Batch``, which the core commits
in one transaction before the batch's messages are sent (``oms.app.delivery``). Nothing is
acknowledged upstream or sent to a broker before it is durable.

The handlers live by what they handle: client requests (``oms.app.requests``), broker
messages (``oms.app.broker``), sessions (``oms.app.sessions``); the state and helpers they
share are ``oms.app.base``. This module never touches quickfix or SQLAlchemy, and speaks no
FIX: it talks to the ports of ``oms.app.ports``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from oms.app.base import CoreSettings, CoreStats, ThreadTimers, order_snapshot, utc_now
from oms.app.broker import BrokerReports
from oms.app.commands import (
    ApplyBrokerCancelReject,
    ApplyBrokerMessageReject,
    ApplyBrokerReport,
    ApplyDropCopy,
    Barrier,
    CancelOrder,
    CheckDropCopies,
    Command,
    ContinueStatusQueries,
    ExpireHeldRequest,
    OperatorCancel,
    OperatorOrder,
    QueryOrderStatus,
    RecoverOutbox,
    ReplaceOrder,
    SessionAnswered,
    SessionLoggedOn,
    SessionLoggedOut,
    SessionUnanswered,
    SubmitOrder,
)
from oms.app.dropcopy import DropCopies
from oms.app.requests import ClientRequests
from oms.app.sessions import SessionEvents

__all__ = ["Core", "CoreSettings", "CoreStats", "ThreadTimers", "order_snapshot", "utc_now"]

log = logging.getLogger(__name__)

_STOP = object()


class Core(ClientRequests, BrokerReports, SessionEvents, DropCopies):
    """Owns the live orders; applies commands one at a time on its own thread."""

    _thread: threading.Thread | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup_drop_copies(self.settings.drop_copies)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.deliverer.start()
        self._thread = threading.Thread(target=self._run, name="oms-core", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Apply and commit what is queued, then stop. True if the thread finished: every
        command submitted before is committed (a commit that keeps failing holds it)."""
        drained = True
        if self._thread is not None:
            self.queue.put(_STOP)
            self._thread.join(timeout)
            drained = not self._thread.is_alive()
            self._thread = None
        self.deliverer.stop(timeout)
        return drained

    def alive(self) -> bool:
        """The core thread is running (the admin interface's liveness check)."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, command: Command) -> None:
        """Enqueue a command (any thread)."""
        self.queue.put(command)

    # --- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        get = self.queue.get
        get_nowait = self.queue.get_nowait
        max_batch = self.settings.max_batch
        clock_ns = time.perf_counter_ns
        batch_ns = self.stats.batch_ns
        while True:
            command = get()
            started = clock_ns()
            stop = False
            count = 0
            self.now = self.clock()  # one reading per batch: its records and messages share it
            # group commit: whatever arrived while the last batch was being committed
            # becomes the next batch
            while True:
                if command is _STOP:
                    stop = True
                    break
                self._dispatch(command)
                count += 1
                if count >= max_batch:
                    break
                try:
                    command = get_nowait()
                except queue.Empty:
                    break
            self._flush_batch()
            batch_ns.append(clock_ns() - started)
            self.stats.commands += count
            if stop:
                return

    def process(self, commands: Iterable[Command]) -> None:
        """Apply commands synchronously as one batch (tests and tools; not while running)."""
        self.now = self.clock()
        for command in commands:
            self._dispatch(command)
        self._flush_batch()

    def _flush_batch(self) -> None:
        """Commit the batch, then (after the commit) send its messages and run its replies
        (operator, barrier), in that order."""
        batch = self.take_rows()
        out, self.out = self.out, []
        outbox = self.outbox
        if batch:
            outbox.note_sent(batch)
        if out or batch.after_commit:
            callbacks = batch.after_commit
            marks = outbox.marks(batch)
            deliver = self.deliverer.deliver
            batch.after_commit = [lambda: deliver(out, callbacks, marks)]
        if batch:
            self.journal.write_now(batch)
            self.stats.batches += 1

    def _dispatch(self, command: object) -> None:
        self._in_event = None  # the inbound row of this command, once it has one
        seq_num = getattr(command, "seq_num", 0)
        if seq_num:
            # committed with the batch: after a crash the engine asks for what came later
            self.batch.inbound_seqs[command.session] = seq_num  # type: ignore[attr-defined]
        handler = self._handlers.get(type(command))
        if handler is None:
            log.error("core: no handler for %r", command)
            return
        try:
            handler(self, command)
        except Exception as exc:  # one bad command must not stop the core
            log.exception("core: %s failed", type(command).__name__)
            self.journal_event("error", None, getattr(command, "session", ""), "",
                               f"{type(command).__name__} failed: {exc!r}")

    def _on_logon(self, cmd: SessionLoggedOn) -> None:
        SessionEvents._on_logon(self, cmd)
        if self.dc_sources:
            self.dc_logged_on(cmd)

    def _on_logout(self, cmd: SessionLoggedOut) -> None:
        SessionEvents._on_logout(self, cmd)
        if self.dc_sources:
            self.dc_logged_out(cmd)

    def _on_barrier(self, cmd: Barrier) -> None:
        reply = cmd.reply
        self.batch.after_commit.append(lambda: reply.set_result(True))

    _handlers: dict[type, Callable[[Core, Any], None]] = {
        SubmitOrder: ClientRequests._on_submit,
        CancelOrder: ClientRequests._on_cancel,
        ReplaceOrder: ClientRequests._on_replace,
        QueryOrderStatus: ClientRequests._on_status,
        OperatorCancel: ClientRequests._on_operator_cancel,
        OperatorOrder: ClientRequests._on_operator_order,
        ApplyBrokerReport: BrokerReports._on_broker_report,
        ApplyBrokerCancelReject: BrokerReports._on_broker_cancel_reject,
        ApplyBrokerMessageReject: BrokerReports._on_broker_message_reject,
        ApplyDropCopy: DropCopies._on_drop_copy,
        CheckDropCopies: DropCopies._on_check_drop_copies,
        SessionLoggedOn: _on_logon,
        SessionLoggedOut: _on_logout,
        SessionUnanswered: SessionEvents._on_unanswered,
        SessionAnswered: SessionEvents._on_answered,
        ExpireHeldRequest: ClientRequests._on_expire_held,
        ContinueStatusQueries: SessionEvents._on_continue_status_queries,
        RecoverOutbox: SessionEvents._on_recover_outbox,
        Barrier: _on_barrier,
    }
