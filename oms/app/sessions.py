"""FIX sessions coming and going: session health, held messages, status queries.

A logon or logout is told to ``SessionHealth`` (the router asks it, never the FIX engine).
After a broker logon the core asks the broker about the orders it may know more about than
we do, paced so that a reconnect with many open orders does not flood the session.
"""

from __future__ import annotations

from collections import deque

from oms.app.base import CoreBase
from oms.app.commands import (
    ContinueStatusQueries,
    RecoverOutbox,
    SessionAnswered,
    SessionLoggedOn,
    SessionLoggedOut,
    SessionUnanswered,
)
from oms.app.messages import QueryChildStatus
from oms.domain.enums import OrdStatus

_UNCERTAIN = (OrdStatus.PENDING_NEW, OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE)


class SessionEvents(CoreBase):
    """The handlers of session commands."""

    def _on_logon(self, cmd: SessionLoggedOn) -> None:
        self.health.logged_on(cmd.session)
        reset = cmd.reset or cmd.session in self.settings.reset_sessions
        self.journal_event("session", None, cmd.session, "A",
                           "logged on, sequence numbers reset" if reset else "logged on")
        held = self.outbox.release(cmd.session)
        if held:
            # #16: committed before the restart, never sent, and kept for this logon (the
            # session's sequence numbers restarted): first on the wire, before anything new
            self.journal_event("outbox", None, cmd.session, "",
                               f"logged on: sent the {len(held)} held outbound message(s) "
                               "committed before the restart")
            self.out.extend(held)
        if cmd.session in self.settings.reset_sessions:
            # sequence numbers restart at this logon: no resend can reach an older message
            self.seen_cl_ord_ids.pop(cmd.session, None)
        if self.router.routes_on(cmd.session):
            self._query_broker(cmd.session, every_open=reset)

    def _query_broker(self, session: str, *, every_open: bool) -> None:
        """After a broker logon, ask for the status of the orders routed to it that it may
        know more about than we do; the queries go out paced (``_send_status_queries``).

        Without a reset, those whose last request is unanswered (PendingNew, PendingCancel,
        PendingReplace): the request may never have reached the broker, and the session's
        resend brings whatever else the broker sent while we were away. #16: after a logon
        that reset sequence numbers no resend comes, so every open order is asked about:
        a fill during the outage is otherwise lost."""
        chosen = deque(
            order.order_id for order in self.orders.values()
            if (order.is_live if every_open else order.status in _UNCERTAIN)
            and any(child.session == session for child in order.children))
        round_ = self._query_rounds[session] = self._query_rounds.get(session, 0) + 1
        self._query_waiting[session] = chosen
        self._send_status_queries(session, round_)

    def _send_status_queries(self, session: str, round_: int) -> None:
        """Query the next ``status_query_batch`` orders waiting for ``session``; if more
        wait, a timer asks the core for the next group after ``status_query_interval``. The
        core thread never sleeps: the timer queues a ``ContinueStatusQueries`` command."""
        waiting = self._query_waiting.get(session)
        if waiting is None or self._query_rounds.get(session) != round_:
            return  # the session logged out, or logged on again since: that round is over
        sent = 0
        while waiting and sent < self.settings.status_query_batch:
            order = self.orders.get(waiting.popleft())
            if order is None or not order.is_live:
                continue  # ended since the logon: nothing left to ask
            for child in order.children:
                if child.session == session:
                    self.emit(QueryChildStatus(session, order, child.cl_ord_id,
                                               child.broker_order_id), order.order_id)
            sent += 1
        if not waiting:
            del self._query_waiting[session]
            return
        # the interval counts from when this group is committed and sent
        later = ContinueStatusQueries(session, round_)
        delay = self.settings.status_query_interval
        submit = self.queue.put
        self.batch.after_commit.append(
            lambda: self.timers.call_later(delay, lambda: submit(later)))

    def _on_continue_status_queries(self, cmd: ContinueStatusQueries) -> None:
        self._send_status_queries(cmd.session, cmd.round)

    def _on_logout(self, cmd: SessionLoggedOut) -> None:
        self.health.logged_out(cmd.session)
        self.journal_event("session", None, cmd.session, "5", "logged out")
        # #16: no more queries on this connection; the next logon asks again
        self._query_waiting.pop(cmd.session, None)

    def _on_unanswered(self, cmd: SessionUnanswered) -> None:
        self.health.unanswered(cmd.session)
        self.journal_event("session", None, cmd.session, "1",
                           "sent a TestRequest: no new orders on this session until it "
                           "answers")

    def _on_answered(self, cmd: SessionAnswered) -> None:
        self.health.answered(cmd.session)
        self.journal_event("session", None, cmd.session, "", "answered our TestRequest")

    def _on_recover_outbox(self, cmd: RecoverOutbox) -> None:
        outbox = self.outbox
        if cmd.sent_through > outbox.sent.get(cmd.session, 0):
            outbox.sent[cmd.session] = cmd.sent_through
        if cmd.held:
            outbox.held[cmd.session] = list(cmd.held)
        self.journal_event("outbox", None, cmd.session, "", cmd.note)
