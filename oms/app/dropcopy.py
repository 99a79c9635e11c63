"""The drop-copy matcher (#19): a broker's copy of every fill it booked for us, against ours.

A broker's drop-copy session sends a copy (CopyMsgIndicator 797=Y) of each ExecutionReport
it sent about our account, whichever session, system or person placed the order. Every one
is journaled (``drop_copies``); each trade (ExecType F) is paired with a fill of ours from
that broker, looked for in this order:

1. the broker's ExecID: the copy carries the one its report to our order session carried;
2. the broker's OrderID or our child's ClOrdID, on a fill of that child not yet paired,
   of the same quantity (brokers whose drop copies number executions apart);
3. symbol, side, quantity and price, booked within ``grace_seconds`` of each other.

What does not agree is a break, journaled once (``dropcopy_breaks``): ``side``, ``qty`` or
``px`` of a pair found by its ids; ``external``, a copy still unpaired ``grace_seconds``
after it came (an order placed outside the OMS); ``missing``, a fill of ours still
without a copy ``grace_seconds`` after it was booked, counted from the drop copy's logon
when it was down then (a copy cannot come while it is down; the broker's resend brings
it after); ``duplicate``, a broker ExecID copied again without PossDupFlag (a PossDup
resend of a copy already seen is what resends are, and only that). Nothing else is
flagged. A late counterpart still pairs, silently: its break is already said.

Trade busts and corrections (ExecType H and G) on the drop copy are journaled and
otherwise not looked at, and so are busts and corrections of our own fills: a fill
corrected after its copy paired stays paired as it was.

The core never sleeps: the grace periods end in a ``CheckDropCopies`` command queued by a
timer, at most one waiting per broker. Without ``[[drop_copies]]`` the matcher subscribes
to nothing and the order path does not call it.

A restart loses none of it (``load_drop_copies``): the day's fills of the copied brokers,
the day's copies and the breaks already said are read back and paired again, silently, so
a copy that arrives after the restart still finds its fill, and nothing is flagged twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from oms.app.base import CoreBase
from oms.app.commands import ApplyDropCopy, CheckDropCopies, SessionLoggedOn, SessionLoggedOut
from oms.app.events import OrderEvent, OrderFilled
from oms.app.ports import DropCopySource
from oms.app.records import DropCopyBreak, DropCopyRecord, LoadedCopy, LoadedFill
from oms.domain.enums import ExecType
from oms.domain.numbers import fmt

log = logging.getLogger(__name__)

ZERO = Decimal(0)
_TRADE = ExecType.TRADE._value_


@dataclass(slots=True, eq=False)
class OurFill:
    """A fill we booked of a child at a broker with a drop copy."""

    exec_id: str  # ours
    order_id: str
    broker_exec_id: str  # "" for a fill inferred from a status answer
    broker_order_id: str
    child_cl_ord_ids: tuple[str, ...]
    symbol: str
    side: str
    qty: Decimal
    px: Decimal
    at: datetime  # booked
    paired: CopiedFill | None = None
    flagged: bool = False  # its ``missing`` break is journaled


@dataclass(slots=True, eq=False)
class CopiedFill:
    """A trade on a broker's drop copy."""

    session: str
    broker_exec_id: str
    cl_ord_id: str
    broker_order_id: str
    symbol: str
    side: str
    qty: Decimal
    px: Decimal
    at: datetime  # received
    paired: OurFill | None = None
    flagged: bool = False  # its ``external`` break is journaled


@dataclass(slots=True)
class BrokerCopies:
    """One broker's side of the matching."""

    name: str
    grace: timedelta
    ours_by_broker_exec: dict[str, OurFill] = field(default_factory=dict)
    unpaired_ours: dict[str, OurFill] = field(default_factory=dict)  # our ExecID -> fill
    unpaired_copies: dict[str, CopiedFill] = field(default_factory=dict)  # broker ExecID
    flagged_copies: dict[str, CopiedFill] = field(default_factory=dict)  # external, unpaired
    seen: set[str] = field(default_factory=set)  # broker ExecIDs copied
    up: set[str] = field(default_factory=set)  # its drop-copy sessions logged on
    up_since: datetime | None = None  # since when one of them is
    check_waiting: bool = False  # a CheckDropCopies timer is set


class DropCopies(CoreBase):
    """The drop-copy matcher's handlers and state (see the module doc)."""

    def setup_drop_copies(self, sources: Iterable[DropCopySource]) -> None:
        """Match the fills of the brokers ``sources`` copy; without any, do nothing at all
        (no subscription: the order path costs what it did)."""
        self._dc_replaying = False  # load_drop_copies: pairs again what was paired, quietly
        self.dc_sources: dict[str, DropCopySource] = {}
        self.dc_brokers: dict[str, BrokerCopies] = {}
        self.dc_broker_of: dict[str, str] = {}  # order session -> broker with a drop copy
        for source in sources:
            self.dc_sources[source.session] = source
            grace = timedelta(seconds=source.grace_seconds)
            book = self.dc_brokers.get(source.broker)
            if book is None:
                book = self.dc_brokers[source.broker] = BrokerCopies(source.broker, grace)
            book.grace = min(book.grace, grace)
            for session in source.broker_sessions:
                self.dc_broker_of[session] = source.broker
        if self.dc_sources:
            self.subscribe(self._dc_our_fill, OrderFilled)

    # --- a restart ---------------------------------------------------------------------
    def load_drop_copies(self, fills: Iterable[LoadedFill], copies: Iterable[LoadedCopy],
                         breaks: Iterable[tuple[str, str, str, str]]) -> None:
        """Before the core starts: the day's fills of the copied brokers (in booking
        order), the day's drop-copy trades (in arrival order) and the breaks already said
        (kind, broker, broker ExecID, our ExecID). They are paired as they were, without
        a break (each was said when it was found); what was flagged stays flagged; what
        still waits for its counterpart waits on (a fill of ours from the drop copy's next
        logon; a copy from when it came: one whose grace ran out meanwhile is flagged at
        the first check)."""
        if not self.dc_sources:
            return
        self._dc_replaying = True
        try:
            for fill in fills:
                book_name = self.dc_broker_of.get(fill.broker_session)
                if book_name is None:
                    continue
                self._dc_take_ours(self.dc_brokers[book_name], OurFill(
                    fill.exec_id, fill.order_id, fill.broker_exec_id, fill.broker_order_id,
                    fill.child_cl_ord_ids, fill.symbol, fill.side, fill.qty, fill.px,
                    fill.at))
            for loaded in copies:
                source = self.dc_sources.get(loaded.session)
                if source is None:
                    continue
                book = self.dc_brokers[source.broker]
                if loaded.broker_exec_id in book.seen:
                    continue
                book.seen.add(loaded.broker_exec_id)
                self._dc_take_copy(book, CopiedFill(
                    loaded.session, loaded.broker_exec_id, loaded.cl_ord_id,
                    loaded.broker_order_id, loaded.symbol, loaded.side, loaded.qty,
                    loaded.px, loaded.at))
        finally:
            self._dc_replaying = False
        for kind, broker, broker_exec_id, exec_id in breaks:
            flagged_in = self.dc_brokers.get(broker)
            if flagged_in is None:
                continue
            book = flagged_in
            if kind == "missing":
                ours = book.unpaired_ours.pop(exec_id, None)
                if ours is not None:
                    ours.flagged = True
            elif kind == "external":
                copy = book.unpaired_copies.pop(broker_exec_id, None)
                if copy is not None:
                    copy.flagged = True
                    book.flagged_copies[broker_exec_id] = copy

    # --- the drop copy's reports -------------------------------------------------------
    def _on_drop_copy(self, cmd: ApplyDropCopy) -> None:
        source = self.dc_sources.get(cmd.session)
        self.batch.drop_copies.append(DropCopyRecord(
            self.now, cmd.session, cmd.exec_id, cmd.exec_type, cmd.ord_status, cmd.cl_ord_id,
            cmd.broker_order_id, cmd.account, cmd.symbol, cmd.side, cmd.last_qty or ZERO,
            cmd.last_px or ZERO, cmd.transact_time, cmd.raw))
        if source is None:  # a session the config does not name: never routed here
            self.journal_event("error", None, cmd.session, "8",
                               "drop copy on a session that is not a drop copy")
            return
        if cmd.exec_type != _TRADE:
            return  # kept; only trades are matched (busts and corrections: module doc)
        if cmd.error or cmd.last_qty is None or cmd.last_px is None:
            problem = cmd.error or "no LastQty/LastPx"
            self.journal_event("error", None, cmd.session, "8",
                               f"drop copy {cmd.exec_id} not matched: {problem}")
            return
        book = self.dc_brokers[source.broker]
        if cmd.exec_id in book.seen:
            if not cmd.poss_dup:
                self._dc_break(book, "duplicate", cmd.session, cmd.exec_id, "", "",
                               cmd.symbol, cmd.side, cmd.last_qty, cmd.last_px,
                               f"broker ExecID {cmd.exec_id} copied again without "
                               "PossDupFlag")
            return
        book.seen.add(cmd.exec_id)
        copy = CopiedFill(cmd.session, cmd.exec_id, cmd.cl_ord_id, cmd.broker_order_id,
                          cmd.symbol, cmd.side, cmd.last_qty, cmd.last_px, self.now)
        if not self._dc_take_copy(book, copy):
            self._dc_check_later(book, book.grace)

    def _dc_take_copy(self, book: BrokerCopies, copy: CopiedFill) -> bool:
        """Pair ``copy`` with its fill, or keep it waiting; True if it paired."""
        ours = self._dc_ours_for(book, copy)
        if ours is not None:
            self._dc_pair(book, ours, copy)
            return True
        book.unpaired_copies[copy.broker_exec_id] = copy
        return False

    def _dc_ours_for(self, book: BrokerCopies, copy: CopiedFill) -> OurFill | None:
        """Our fill ``copy`` is a copy of (the module doc's order), else None."""
        ours = book.ours_by_broker_exec.get(copy.broker_exec_id)
        if ours is not None and ours.paired is None:
            return ours
        for ours in book.unpaired_ours.values():
            if ours.qty == copy.qty and _same_child(ours, copy):
                return ours
        for ours in book.unpaired_ours.values():
            if _alike(ours, copy, book.grace):
                return ours
        return None

    # --- our fills -------------------------------------------------------------------------
    def _dc_our_fill(self, event: OrderEvent) -> None:
        assert isinstance(event, OrderFilled)  # subscribed to OrderFilled only
        child = event.child
        broker = self.dc_broker_of.get(child.session)
        if broker is None:
            return
        book = self.dc_brokers[broker]
        order = event.order
        ours = OurFill(event.exec_id, order.order_id, event.broker[1],
                       event.broker[2] or child.broker_order_id, child.cl_ord_ids,
                       order.symbol, order.side._value_, event.qty, event.px, self.now)
        if not self._dc_take_ours(book, ours) and book.up_since is not None:
            self._dc_check_later(book, book.grace)

    def _dc_take_ours(self, book: BrokerCopies, ours: OurFill) -> bool:
        """Pair our fill with the copy that came first, or keep it waiting; True if it
        paired."""
        if ours.broker_exec_id:
            book.ours_by_broker_exec[ours.broker_exec_id] = ours
        copy = self._dc_copy_for(book, ours)
        if copy is not None:
            self._dc_pair(book, ours, copy)
            return True
        book.unpaired_ours[ours.exec_id] = ours
        return False

    def _dc_copy_for(self, book: BrokerCopies, ours: OurFill) -> CopiedFill | None:
        """The copy of ``ours`` that came first, else None."""
        if ours.broker_exec_id:
            copy = book.unpaired_copies.get(ours.broker_exec_id) or \
                book.flagged_copies.get(ours.broker_exec_id)
            if copy is not None:
                return copy
        for copy in book.unpaired_copies.values():
            if ours.qty == copy.qty and _same_child(ours, copy):
                return copy
        for copy in book.unpaired_copies.values():
            if _alike(ours, copy, book.grace):
                return copy
        return None

    # --- pairs and breaks ----------------------------------------------------------------
    def _dc_pair(self, book: BrokerCopies, ours: OurFill, copy: CopiedFill) -> None:
        """``copy`` is the broker's copy of ``ours``: what differs between them is a break."""
        ours.paired, copy.paired = copy, ours
        book.unpaired_ours.pop(ours.exec_id, None)
        book.unpaired_copies.pop(copy.broker_exec_id, None)
        book.flagged_copies.pop(copy.broker_exec_id, None)
        if ours.broker_exec_id:
            book.ours_by_broker_exec.pop(ours.broker_exec_id, None)
        for kind, theirs, mine in (("side", copy.side, ours.side),
                                   ("qty", copy.qty, ours.qty),
                                   ("px", copy.px, ours.px)):
            if theirs != mine:
                said = fmt(theirs) if isinstance(theirs, Decimal) else theirs
                have = fmt(mine) if isinstance(mine, Decimal) else mine
                self._dc_break(book, kind, copy.session, copy.broker_exec_id, ours.exec_id,
                               ours.order_id, ours.symbol, copy.side, copy.qty, copy.px,
                               f"{kind}: drop copy {said}, ours {have}")

    def _dc_break(self, book: BrokerCopies, kind: str, session: str, broker_exec_id: str,
                  exec_id: str, order_id: str, symbol: str, side: str, qty: Decimal | None,
                  px: Decimal | None, detail: str) -> None:
        if self._dc_replaying:
            return  # said when it was found, before the restart
        self.batch.dropcopy_breaks.append(DropCopyBreak(
            self.now, kind, session, book.name, broker_exec_id, exec_id, order_id, symbol,
            side, qty, px, detail))
        log.warning("drop copy of %s: %s break: %s", book.name, kind, detail,
                    extra={"session": session, "order_id": order_id or None})

    # --- grace periods ---------------------------------------------------------------------
    def _dc_check_later(self, book: BrokerCopies, delay: timedelta) -> None:
        """Have a ``CheckDropCopies`` queued after ``delay``, unless one waits already."""
        if book.check_waiting:
            return
        book.check_waiting = True
        later = CheckDropCopies(book.name)
        seconds = max(delay.total_seconds(), 0.001)
        submit, timers = self.queue.put, self.timers
        self.batch.after_commit.append(
            lambda: timers.call_later(seconds, lambda: submit(later)))

    def _on_check_drop_copies(self, cmd: CheckDropCopies) -> None:
        book = self.dc_brokers.get(cmd.broker)
        if book is None:
            return
        book.check_waiting = False
        now, grace = self.now, book.grace
        due: list[OurFill | CopiedFill] = []
        for copy in book.unpaired_copies.values():  # in arrival order
            if copy.at + grace > now:
                break
            due.append(copy)
        if book.up_since is not None:
            # a fill booked while the drop copy was down waits from its logon
            for ours in book.unpaired_ours.values():  # in booking order
                if max(ours.at, book.up_since) + grace > now:
                    break
                due.append(ours)
        for item in due:
            if isinstance(item, CopiedFill):
                del book.unpaired_copies[item.broker_exec_id]
                book.flagged_copies[item.broker_exec_id] = item
                item.flagged = True
                self._dc_break(book, "external", item.session, item.broker_exec_id, "", "",
                               item.symbol, item.side, item.qty, item.px,
                               f"the broker booked {fmt(item.qty)} {item.symbol} at "
                               f"{fmt(item.px)} (OrderID {item.broker_order_id or '-'}, "
                               f"ClOrdID {item.cl_ord_id or '-'}) and we have no such fill: "
                               "an order placed outside the OMS?")
            else:
                del book.unpaired_ours[item.exec_id]
                item.flagged = True
                self._dc_break(book, "missing", "", item.broker_exec_id, item.exec_id,
                               item.order_id, item.symbol, item.side, item.qty, item.px,
                               f"our fill {item.exec_id} of {fmt(item.qty)} at "
                               f"{fmt(item.px)} (broker ExecID {item.broker_exec_id or '-'}) "
                               f"has no drop copy after {grace.total_seconds():g} s")
        self._dc_schedule_next(book)

    def _dc_schedule_next(self, book: BrokerCopies) -> None:
        """A check for the first of what still waits, if anything does."""
        deadlines = []
        if book.unpaired_copies:
            deadlines.append(next(iter(book.unpaired_copies.values())).at + book.grace)
        if book.unpaired_ours and book.up_since is not None:
            first = next(iter(book.unpaired_ours.values()))
            deadlines.append(max(first.at, book.up_since) + book.grace)
        if deadlines:
            self._dc_check_later(book, min(deadlines) - self.now)

    # --- the drop copy's session --------------------------------------------------------
    def dc_logged_on(self, cmd: SessionLoggedOn) -> None:
        source = self.dc_sources.get(cmd.session)
        if source is None:
            return
        book = self.dc_brokers[source.broker]
        if not book.up:
            book.up_since = self.now
        book.up.add(cmd.session)
        self._dc_schedule_next(book)

    def dc_logged_out(self, cmd: SessionLoggedOut) -> None:
        source = self.dc_sources.get(cmd.session)
        if source is None:
            return
        book = self.dc_brokers[source.broker]
        book.up.discard(cmd.session)
        if not book.up:
            book.up_since = None


def _same_child(ours: OurFill, copy: CopiedFill) -> bool:
    """The copy names our fill's child: by the broker's OrderID or our child's ClOrdID."""
    return bool(copy.broker_order_id and copy.broker_order_id == ours.broker_order_id) or \
        bool(copy.cl_ord_id and copy.cl_ord_id in ours.child_cl_ord_ids)


def _alike(ours: OurFill, copy: CopiedFill, window: timedelta) -> bool:
    """Same symbol, side, quantity and price, within ``window`` of each other."""
    return (ours.symbol == copy.symbol and ours.side == copy.side and ours.qty == copy.qty
            and ours.px == copy.px and abs(ours.at - copy.at) <= window)
