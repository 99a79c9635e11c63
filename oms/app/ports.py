"""The interfaces the core talks through; adapters live in ``fix`` and ``store``, and the
features (``risk``, ``routing``, ...) implement the ports named for them here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from oms.app.records import Batch, PositionRecord

if TYPE_CHECKING:
    from oms.app.commands import ApplyBrokerReport, CancelOrder, ReplaceOrder, SubmitOrder
    from oms.app.messages import Outbound
    from oms.domain.order import Order


@dataclass(slots=True)
class OutMessage:
    """One FIX application message to send, encoded: session key, MsgType, and its body
    fields as FIX text (``tag=value``, SOH-separated, in order)."""

    session: str
    msg_type: str
    text: str
    received_ns: int = 0  # for a child order: when its upstream order arrived (latency)
    outbox_seq: int = 0  # its place in the session's outbox, once journaled (#16)
    # the ClOrdID a message to a broker carries: the FIX layer tracks it to find the order
    # a session-level Reject refers to
    cl_ord_id: str = ""

    @classmethod
    def of_fields(cls, session: str, msg_type: str, fields: list[tuple[int, str]],
                  **more: Any) -> OutMessage:
        """The message with these (tag, value) fields."""
        return cls(session, msg_type, "\x01".join(f"{tag}={value}" for tag, value in fields),
                   **more)

    @property
    def fields(self) -> list[tuple[int, str]]:
        """Its (tag, value) fields, in order (read from the text: for tests and tools)."""
        if not self.text:
            return []
        return [(int(tag), value) for tag, _, value in
                (field.partition("=") for field in self.text.split("\x01"))]

    def body(self) -> str:
        """The body fields as FIX text (SOH-separated)."""
        return self.text

    def render(self) -> str:
        """The message as ``35=X|tag=value|...`` for the journal."""
        return f"35={self.msg_type}|" + self.text.replace("\x01", "|")


class Sender(Protocol):
    """Sends FIX messages; the core never writes to a socket itself."""

    def send(self, messages: list[OutMessage]) -> None: ...


class Encoder(Protocol):
    """Turns the core's typed outbound messages (``oms.app.messages``) into FIX: the core
    journals the encoded text before the commit and sends it after."""

    def encode(self, message: Outbound) -> OutMessage: ...


# #19: how long a cancel or replace waits for its session to come back, unless the broker says
DEFAULT_HOLD_SECONDS = 30.0


@dataclass(slots=True)
class Route:
    """A broker the core can route to: its name in the config and the FIX session an order
    goes out on (#19: one of the broker's sessions, the first of them that is up)."""

    name: str
    session: str  # the broker session key
    account: str = ""  # the Account a child order carries when the client gave none
    # every session of the broker, in priority order (the first is the primary); empty: just
    # ``session``
    sessions: tuple[str, ...] = ()
    # #19: a cancel or replace for a child whose session is down goes through another
    # session of the broker that is up (the broker must take it there); else it is held
    # for the child's session, at most ``hold_seconds``
    cancel_via_backup: bool = False
    hold_seconds: float = DEFAULT_HOLD_SECONDS


@dataclass(slots=True, frozen=True)
class DropCopySource:
    """A broker's drop-copy session, as the core's matcher needs it (#19)."""

    session: str  # the drop-copy session's key
    name: str  # its name in the config
    broker: str  # the broker whose fills it copies
    broker_sessions: tuple[str, ...]  # the broker's order sessions, whose fills it copies
    # how long a fill waits for its counterpart before it is a break; also the window of
    # the match by symbol, side, quantity and price
    grace_seconds: float = 60.0


@dataclass(slots=True, frozen=True)
class Denial:
    """Why an order is refused before it is routed, and its OrdRejReason value."""

    reason: str
    code: str


class RiskGate(Protocol):
    """What may go through: each check returns why not (a reason for the client), or
    nothing. The order path asks it before anything reaches a broker, and before a
    broker's report changes an order."""

    def check_new(self, request: SubmitOrder, order: Order) -> Denial | None:
        """A new order, before it is routed (``order`` as it would be booked)."""

    def check_amend(self, request: CancelOrder | ReplaceOrder, order: Order) -> str:
        """A cancel or replace of ``order``: does it name the same instrument and side?"""

    def check_replace(self, request: ReplaceOrder, order: Order) -> str:
        """The new terms of a replace."""

    def check_report(self, report: ApplyBrokerReport) -> str:
        """A broker's execution report, before it changes the order."""


class SessionHealth(Protocol):
    """Which FIX sessions can carry messages now, as the core has been told by the
    logon and logout commands and by the TestRequests the engine sent and had answered
    (it never asks the FIX engine)."""

    def logged_on(self, session: str) -> None: ...

    def logged_out(self, session: str) -> None: ...

    def unanswered(self, session: str) -> None:
        """A TestRequest went out: the session is not healthy until ``answered``."""

    def answered(self, session: str) -> None: ...

    def is_up(self, session: str) -> bool:
        """Logged on, and no TestRequest waits for an answer."""


class Router(Protocol):
    """Chooses the broker session for an order (``oms.routing``)."""

    def route(self, order: Order) -> Route | str:
        """The route for a new order, or why there is none (a reason for the client)."""

    def route_named(self, name: str) -> Route | None:
        """The route an order was sent on, by its name (on the broker's primary session)."""

    def routes_on(self, session: str) -> list[Route]:
        """The routes of the brokers ``session`` is a session of."""


class TopOfBook(Protocol):
    """A symbol's latest quote, as the core reads it (``oms.marketdata.port.Quote``)."""

    @property
    def bid(self) -> Decimal | None: ...

    @property
    def ask(self) -> Decimal | None: ...

    @property
    def mid(self) -> Decimal | None: ...


class QuoteBook(Protocol):
    """The market's latest quotes (#20: ``oms.marketdata.book.MarketDataBook``), read on
    every new order for its arrival quote: a dict lookup that never blocks the core."""

    def quote(self, symbol: str) -> TopOfBook | None: ...

    def is_stale(self, symbol: str, now: datetime) -> bool: ...


class NoQuotes:
    """A ``QuoteBook`` with nothing in it (a core without market data)."""

    def quote(self, symbol: str) -> TopOfBook | None:
        return None

    def is_stale(self, symbol: str, now: datetime) -> bool:
        return True


class PositionKeeper(Protocol):
    """#21: the positions, fed on the core thread with every fill, bust and correction
    (``oms.portfolio.keeper.PositionKeeper``). Each change says which position it changed;
    the position's row (``row``) is made once per batch, as the batch is taken, and goes
    into the commit of the changes that caused it."""

    def fill(self, exec_id: str, account: str, symbol: str, side: str, qty: Decimal,
             px: Decimal, broker: str, commission: Decimal | None, comm_type: str
             ) -> tuple[tuple[str, str], Decimal]:
        """Book a fill (``side`` a FIX Side value; ``commission`` and ``comm_type`` as the
        broker's report gave them, if it did); its (account, symbol) and its fee."""
        ...

    def bust(self, exec_id: str) -> tuple[str, str] | None:
        """The fill ``exec_id`` is canceled; None if the keeper never booked it."""
        ...

    def correct(self, exec_id: str, new_exec_id: str, qty: Decimal, px: Decimal
                ) -> tuple[str, str] | None:
        """The fill ``exec_id`` is now ``qty`` at ``px``, known as ``new_exec_id``."""
        ...

    def row(self, account: str, symbol: str, at: datetime) -> PositionRecord:
        """The position's row as it is now."""
        ...


class Timers(Protocol):
    """Runs an action later, on another thread: the core thread never sleeps (#16: it
    paces its status queries by having a timer queue the next group as a command)."""

    def call_later(self, delay: float, action: Callable[[], None]) -> None: ...


class Journal(Protocol):
    """Writes batches durably, then runs their ``after_commit`` callbacks."""

    def write_now(self, batch: Batch) -> bool:
        """Commit the batch in the calling thread, then run its callbacks; False if it
        gave up (the journal is stopping): the batch was not acknowledged."""
