"""A core wired to hand-written fakes, and builders for the commands it takes.

``Harness`` owns one ``Core`` with one route (SIM, on the broker session below), an
injected clock, a journal that commits at once (or, with ``HoldingJournal``, only when the
test says so) and a sender that records every message instead of writing to a socket.
Each ``run`` is one batch; it returns a ``Step`` with that batch and what was sent during
it, so a test asserts on the exact FIX fields and on the records the journal received.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from oms.app.commands import (
    ApplyBrokerCancelReject,
    ApplyBrokerReport,
    CancelOrder,
    Command,
    QueryOrderStatus,
    ReplaceOrder,
    SessionLoggedOut,
    SubmitOrder,
)
from oms.app.core import CoreSettings
from oms.app.ports import DropCopySource, OutMessage, Route
from oms.app.records import Batch, EventRecord
from oms.bootstrap import new_core
from oms.domain.ids import Ids
from oms.domain.order import Order

D = Decimal
CLIENT = "FIX.4.4:OMS->CLIENT1"
BROKER = "FIX.4.4:OMS->BROKER1"
BACKUP = "FIX.4.4:OMS2->BROKER2"  # #19: a second session of the same broker
START = datetime(2024, 1, 2, 14, 30, 0, tzinfo=UTC)
START_FIX = "20240102-14:30:00.000"  # START as TransactTime (60)


# --- fakes -----------------------------------------------------------------------------
class FakeClock:
    """A clock that moves only when the test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeJournal:
    """Keeps every batch and "commits" it at once: runs its after_commit callbacks."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def write_now(self, batch: Batch) -> bool:
        self.batches.append(batch)
        for callback in batch.after_commit:
            callback()
        return True


class HoldingJournal(FakeJournal):
    """Keeps batches uncommitted until ``commit()``: nothing may be sent before that."""

    def __init__(self) -> None:
        super().__init__()
        self.uncommitted: list[Batch] = []

    def write_now(self, batch: Batch) -> bool:
        self.batches.append(batch)
        self.uncommitted.append(batch)
        return True

    def commit(self) -> None:
        waiting, self.uncommitted = self.uncommitted, []
        for batch in waiting:
            for callback in batch.after_commit:
                callback()


class FakeTimers:
    """Keeps every action asked for later; they run only when the test says time passed."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, action: Callable[[], None]) -> None:
        self.waiting.append((delay, action))

    def fire(self) -> list[float]:
        """Run every waiting action; the delays they were asked for."""
        due, self.waiting = self.waiting, []
        for _, action in due:
            action()
        return [delay for delay, _ in due]


class FakeSender:
    """Records every message sent."""

    def __init__(self) -> None:
        self.sent: list[OutMessage] = []

    def send(self, messages: list[OutMessage]) -> None:
        self.sent.extend(messages)


# --- reading what was sent ---------------------------------------------------------------
def tags(message: OutMessage) -> dict[int, str]:
    """The message's fields by tag (our messages carry no repeating groups)."""
    found = dict(message.fields)
    assert len(found) == len(message.fields), f"repeated tag in {message.render()}"
    return found


@dataclass
class Step:
    """What one batch produced: the journal's batch and the messages sent meanwhile."""

    batch: Batch
    sent: list[OutMessage] = field(default_factory=list)

    @property
    def upstream(self) -> list[OutMessage]:
        return [m for m in self.sent if m.session == CLIENT]

    @property
    def to_broker(self) -> list[OutMessage]:
        return [m for m in self.sent if m.session == BROKER]

    def only_upstream(self, msg_type: str = "8") -> dict[int, str]:
        """The one message sent upstream in this step, which must be of ``msg_type``."""
        assert len(self.upstream) == 1, [m.render() for m in self.upstream]
        message = self.upstream[0]
        assert message.msg_type == msg_type, message.render()
        return tags(message)

    def only_to_broker(self, msg_type: str) -> dict[int, str]:
        assert len(self.to_broker) == 1, [m.render() for m in self.to_broker]
        message = self.to_broker[0]
        assert message.msg_type == msg_type, message.render()
        return tags(message)

    def events(self, kind: str) -> list[EventRecord]:
        return [e for e in self.batch.events if e.kind == kind]


# --- command builders ----------------------------------------------------------------------
def _raw(msg_type: str, *fields: tuple[int, object]) -> str:
    """The inbound message as the FIX layer would journal it (only the tags that matter)."""
    return "35=" + msg_type + "".join(f"|{t}={v}" for t, v in fields if v not in ("", None))


def submit_order(cl_ord_id: str = "C1", **overrides: object) -> SubmitOrder:
    """A NewOrderSingle: buy 100 ACME limit 10, DAY, account ACC1, default route."""
    values: dict[str, object] = dict(
        session=CLIENT,
        seq_num=1,
        raw="",
        cl_ord_id=cl_ord_id,
        symbol="ACME",
        side="1",
        ord_type="2",
        order_qty=D(100),
        price=D("10"),
        stop_px=None,
        time_in_force="0",
        account="ACC1",
        ex_destination="",
        poss_resend=False,
    )
    values.update(overrides)
    if not values["raw"]:
        values["raw"] = _raw("D", (11, values["cl_ord_id"]), (38, values["order_qty"]))
    return SubmitOrder(**values)  # type: ignore[arg-type]


def cancel_order(
    cl_ord_id: str = "C2", orig_cl_ord_id: str = "C1", **overrides: object
) -> CancelOrder:
    values: dict[str, object] = dict(
        session=CLIENT,
        seq_num=2,
        raw=_raw("F", (11, cl_ord_id), (41, orig_cl_ord_id)),
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=orig_cl_ord_id,
        order_id="",
        symbol="ACME",
        side="1",
    )
    values.update(overrides)
    return CancelOrder(**values)  # type: ignore[arg-type]


def replace_order(
    cl_ord_id: str = "C3", orig_cl_ord_id: str = "C1", **overrides: object
) -> ReplaceOrder:
    """A cancel/replace of the default order to 80 @ 10.5."""
    values: dict[str, object] = dict(
        session=CLIENT,
        seq_num=3,
        raw=_raw("G", (11, cl_ord_id), (41, orig_cl_ord_id)),
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=orig_cl_ord_id,
        order_id="",
        symbol="ACME",
        side="1",
        ord_type="2",
        order_qty=D(80),
        price=D("10.5"),
        stop_px=None,
        time_in_force="",
    )
    values.update(overrides)
    return ReplaceOrder(**values)  # type: ignore[arg-type]


def query_status(cl_ord_id: str = "C1", **overrides: object) -> QueryOrderStatus:
    values: dict[str, object] = dict(
        session=CLIENT,
        seq_num=4,
        raw=_raw("H", (11, cl_ord_id)),
        cl_ord_id=cl_ord_id,
        order_id="",
        symbol="ACME",
        side="1",
        ord_status_req_id="SR1",
    )
    values.update(overrides)
    return QueryOrderStatus(**values)  # type: ignore[arg-type]


def broker_report(
    cl_ord_id: str,
    exec_type: str,
    exec_id: str,
    *,
    ord_status: str = "",
    orig_cl_ord_id: str = "",
    last_qty: str | None = None,
    last_px: str | None = None,
    order_qty: str | None = None,
    cum_qty: str | None = None,
    avg_px: str | None = None,
    exec_ref_id: str = "",
    text: str = "",
    broker_order_id: str = "BRK-1",
    session: str = BROKER,
    exec_restatement_reason: str = "",
) -> ApplyBrokerReport:
    """An ExecutionReport from the broker about our child order ``cl_ord_id``."""
    return ApplyBrokerReport(
        session=session,
        seq_num=10,
        raw=_raw("8", (11, cl_ord_id), (41, orig_cl_ord_id), (17, exec_id), (150, exec_type)),
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=orig_cl_ord_id,
        broker_order_id=broker_order_id,
        exec_id=exec_id,
        exec_type=exec_type,
        ord_status=ord_status,
        last_qty=None if last_qty is None else D(last_qty),
        last_px=None if last_px is None else D(last_px),
        order_qty=None if order_qty is None else D(order_qty),
        cum_qty=None if cum_qty is None else D(cum_qty),
        avg_px=None if avg_px is None else D(avg_px),
        exec_ref_id=exec_ref_id,
        ord_rej_reason="",
        text=text,
        poss_dup=False,
        exec_restatement_reason=exec_restatement_reason,
    )


def broker_cancel_reject(
    cl_ord_id: str,
    orig_cl_ord_id: str,
    *,
    response_to: str = "1",
    reason: str = "0",
    text: str = "Too late",
    ord_status: str = "0",
) -> ApplyBrokerCancelReject:
    return ApplyBrokerCancelReject(
        session=BROKER,
        seq_num=11,
        raw=_raw("9", (11, cl_ord_id), (41, orig_cl_ord_id)),
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=orig_cl_ord_id,
        broker_order_id="BRK-1",
        ord_status=ord_status,
        response_to=response_to,
        reason=reason,
        text=text,
    )


# --- the harness ---------------------------------------------------------------------------
class Harness:
    """One core, its fakes, and short ways to play the client's and the broker's parts."""

    def __init__(
        self,
        *,
        journal: FakeJournal | None = None,
        route_account: str = "",
        routes: dict[str, Route] | None = None,
        symbols: Iterable[str] = (),
        destinations: dict[str, str] | None = None,
        send_pending_new: bool = False,
        reset_sessions: Iterable[str] = (),
        logged_on: Iterable[str] = (CLIENT, BROKER),
        epoch_ms: int = 0,
        max_digits: int = 15,
        status_query_batch: int = 100,
        status_query_interval: float = 0.1,
        drop_copies: Iterable[DropCopySource] = (),
    ) -> None:
        self.clock = FakeClock()
        self.timers = FakeTimers()
        self.journal = journal if journal is not None else FakeJournal()
        self.sender = FakeSender()
        self.routes = routes or {"SIM": Route("SIM", BROKER, account=route_account)}
        self.settings = CoreSettings(
            send_pending_new=send_pending_new,
            reset_sessions=frozenset(reset_sessions),
            status_query_batch=status_query_batch,
            status_query_interval=status_query_interval,
            drop_copies=tuple(drop_copies),
        )
        # the sessions in ``logged_on`` count as logged on from the start (no logon
        # command, so no status queries); a test logs one out with ``logged_out``
        self.core = new_core(
            self.settings, self.journal, self.sender, routes=self.routes,
            destinations=destinations or {}, default_route="SIM", symbols=frozenset(symbols),
            max_digits=max_digits, up=logged_on, ids=Ids(epoch_ms=epoch_ms), clock=self.clock,
            timers=self.timers,
        )
        self._exec_seq = 0

    # --- running -----------------------------------------------------------------------
    def run(self, *commands: Command) -> Step:
        """Process ``commands`` as one batch; the batch and what was sent during it."""
        batches, sent = len(self.journal.batches), len(self.sender.sent)
        self.core.process(commands)
        new = self.journal.batches[batches:]
        assert len(new) <= 1, "process() must hand over at most one batch"
        return Step(new[0] if new else Batch(), self.sender.sent[sent:])

    def after_timers(self) -> Step:
        """Let the waiting timers fire, then process what they queued as one batch."""
        self.timers.fire()
        queued: list[Command] = []
        while True:
            try:
                queued.append(self.core.queue.get_nowait())  # type: ignore[arg-type]
            except queue.Empty:
                return self.run(*queued)

    def logged_out(self, session: str) -> None:
        """The core hears that ``session`` logged out (its own batch)."""
        self.run(SessionLoggedOut(session))

    def order(self, cl_ord_id: str = "C1") -> Order:
        return self.core.by_upstream[(CLIENT, cl_ord_id)]

    # --- what the broker saw -----------------------------------------------------------
    def last_to_broker(self, msg_type: str) -> dict[int, str]:
        """The fields of the last ``msg_type`` message sent to the broker session."""
        for message in reversed(self.sender.sent):
            if message.session == BROKER and message.msg_type == msg_type:
                return tags(message)
        raise AssertionError(f"no 35={msg_type} was sent to the broker")

    def child(self, msg_type: str = "D") -> str:
        """The ClOrdID (11) of the last D / F / G we sent to the broker."""
        return self.last_to_broker(msg_type)[11]

    # --- the broker's part ---------------------------------------------------------------
    def next_exec_id(self) -> str:
        self._exec_seq += 1
        return f"BX{self._exec_seq}"

    def broker(
        self,
        exec_type: str,
        *,
        cl_ord_id: str | None = None,
        exec_id: str | None = None,
        **values: str,
    ) -> Step:
        """Play one broker ExecutionReport, by default about the child of the last D."""
        return self.run(
            broker_report(
                cl_ord_id if cl_ord_id is not None else self.child("D"),
                exec_type,
                exec_id or self.next_exec_id(),
                **values,
            )
        )

    def ack(self, **values: str) -> Step:
        return self.broker("0", ord_status="0", **values)

    def fill(self, qty: str, px: str, **values: str) -> Step:
        return self.broker("F", last_qty=qty, last_px=px, **values)

    # --- whole situations -------------------------------------------------------------------
    def working_order(self, *, qty: str = "100", filled: str = "0", px: str = "10") -> Order:
        """Order C1 sent, acknowledged and, if ``filled``, partly or wholly filled at ``px``."""
        self.run(submit_order(order_qty=D(qty)))
        self.ack()
        if D(filled):
            self.fill(filled, px)
        return self.order()

    def pending_cancel(self, *, filled: str = "0") -> Order:
        """Order C1 working, then cancel C2 sent to the broker and not yet answered."""
        self.working_order(filled=filled)
        self.run(cancel_order())
        return self.order()

    def pending_replace(self, *, filled: str = "0", **replace: object) -> Order:
        """Order C1 working, then replace C3 (to 80 @ 10.5 unless told) sent, unanswered."""
        self.working_order(filled=filled)
        self.run(replace_order(**replace))
        return self.order()
