"""A sell-side broker simulator: a QuickFIX FIX 4.4 acceptor the OMS routes child orders to.

What it does: accepts NewOrderSingle (D), OrderCancelRequest (F),
OrderCancelReplaceRequest (G) and OrderStatusRequest (H) on one acceptor session per OMS
CompID and answers as a broker would, following FIX 4.4 Volume 4 Appendix D: it acks a new
order (ExecType=0), then fills it at once, in N paced partial fills, or never; it rejects a
configurable share of new orders (ExecType=8 with OrdRejReason and Text); it accepts or denies
cancels and replaces (OrderCancelReject 35=9 with CxlRejReason 0 too late, 1 unknown order,
2 broker option); it can cancel accepted orders on its own after a delay (unsolicited
ExecType=4, no OrigClOrdID); it answers status requests with ExecType=I. Quantities and
prices are Decimals; every ExecutionReport carries a fresh ExecID.

With ``market_port`` (``oms sim broker --market PORT``) it is also a market-data initiator
to ``oms sim market`` (oms/fix/marketdata.py, its FileStore under ``sessions_dir/market``),
subscribed to ``market_symbols`` and to the symbol of every order it takes, and it fills at
the market's prices (oms/sim/marketfill.py): a marketable order at the touch worsened by
``impact_bps``, each partial fill at the touch of its time; a limit that is not marketable
rests until a trade print or the opposite touch reaches it, then fills at its limit (or is
canceled after ``rest_timeout`` s); an order for a symbol with no quote yet waits for the
first. ``fill_px`` and ``market_px`` are then unused.

What it does not do: no order book, matching or price improvement (without a market every
fill is at ``fill_px``, the limit price, or ``market_px``); no PendingNew/PendingCancel/
PendingReplace acks; no DoneForDay or expiry; no persistence of orders (the FileStore keeps
the session's messages and sequence numbers only, so a restarted simulator forgets its
orders). QuickFIX 1.16 acceptors listen on every interface: ``host`` is only reported.

For an auditor (tests/fault) it keeps a book, read with ``book()``: how many D, F and G
carried each ClOrdID (counted on arrival, before any check, so a child sent twice shows even
when it is refused as a duplicate), and every order it ever answered with its ClOrdID chain,
quantities and the fills it sent. A list append per message; ``keep_book=False`` turns it off.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Literal

import quickfix as fix
from pydantic import BaseModel, ConfigDict, Field

from oms.fix.engine import Engine, copy_session_id, keeps_thread_state
from oms.fix.marketdata import FixMarketDataFeed, MarketDataClient
from oms.fix.settings import SessionSpec
from oms.marketdata.book import MarketDataBook
from oms.sim import marketfill
from oms.sim.common import (
    TERMINAL_ORD_STATUSES,
    ZERO,
    build_engine,
    fix_decimal,
    new_message,
    run_prefix,
    session_spec,
    stop_engine,
    utc_timestamp,
)

log = logging.getLogger(__name__)

FillMode = Literal["immediate", "partial", "none"]
Policy = Literal["accept", "deny"]

AVG_PX_QUANTUM = Decimal("0.00000001")


class BrokerSimOptions(BaseModel):
    """Everything the broker simulator can be told; one field per CLI flag."""

    model_config = ConfigDict(extra="forbid")

    sessions_dir: Path  # the simulator's FileStore and generated quickfix cfg go here
    host: str = "0.0.0.0"  # informational: QuickFIX 1.16 acceptors bind every interface
    port: int = Field(9877, ge=1, le=65535)
    sender_comp_id: str = "BROKER1"
    target_comp_ids: list[str] = Field(default_factory=lambda: ["OMS"], min_length=1)
    fill_mode: FillMode = "immediate"
    partial_fills: int = Field(3, ge=1)  # fills per order in partial mode
    fill_interval: float = Field(0.1, ge=0)  # seconds between partial fills (and after the ack)
    fill_px: Decimal | None = None  # None: the order's limit price, else market_px
    market_px: Decimal = Decimal("100")
    reject_rate: float = Field(0.0, ge=0, le=1)
    # NewOrderSingles for these symbols get a session-level Reject (3) quoting their
    # MsgSeqNum, not an ExecutionReport: how some brokers refuse what they cannot parse
    session_reject_symbols: list[str] = Field(default_factory=list)
    cancel_policy: Policy = "accept"
    replace_policy: Policy = "accept"
    unsolicited_cancel_rate: float = Field(0.0, ge=0, le=1)
    unsolicited_cancel_delay: float = Field(0.2, ge=0)  # seconds after the ack
    seed: int | None = None
    reset_on_logon: bool = True
    heartbeat_interval: int = Field(30, ge=1)
    file_log: bool = False
    data_dictionary: Path | None = None  # None: fix_config/FIX44.xml
    retain_finished: int = Field(100_000, ge=0)  # finished orders kept for status/late cancels
    keep_book: bool = True  # the auditor's book (book()): grows with every order, never pruned
    # #19: one book for all sessions: a cancel or replace may come on another session than
    # its order (a backup), and the answer goes back on the session that asked
    shared_book: bool = False
    # #19, a gateway outage: after this many NewOrderSingles (0: never) drop every session's
    # connection, as a crashed gateway would (no Logout), and refuse logons for
    # ``refuse_logons_for`` seconds after any drop (``drop_connections``, SIGUSR1 on the CLI)
    drop_after: int = Field(0, ge=0)
    refuse_logons_for: float = Field(0.0, ge=0)
    # #19, a drop copy: the OMS CompIDs of drop-copy sessions it accepts (on the same port,
    # as ``dropcopy_sender_comp_id``, "" = ``sender_comp_id``); each gets a copy (797=Y,
    # the same ExecID) of every fill sent on any order session. Breaks to inject: omit the
    # copy of every Nth fill (the OMS's ``missing``), send N fills of an order the OMS
    # never sent (``external``), one copy with another quantity (``qty``), one copy twice
    # without PossDupFlag (``duplicate``)
    dropcopy_target_comp_ids: list[str] = Field(default_factory=list)
    dropcopy_sender_comp_id: str = ""
    dropcopy_skip: int = Field(0, ge=0)
    dropcopy_extra: int = Field(0, ge=0)
    dropcopy_extra_symbol: str = "XTRA"  # a symbol the OMS's orders do not use
    dropcopy_alter: bool = False
    dropcopy_duplicate: bool = False
    # #20: fill at the prices of ``oms sim market`` (its defaults: port 9878, CompID
    # MARKET, accepting OMS); None: fixed prices as above
    market_port: int | None = Field(None, ge=1, le=65535)
    market_host: str = "127.0.0.1"
    market_sender: str = "OMS"  # our CompID on the market-data session
    market_target: str = "MARKET"
    market_symbols: list[str] = Field(default_factory=list)  # subscribed at logon
    impact_bps: Decimal = Field(Decimal(1), ge=0)  # how much worse than the touch
    rest_timeout: float = Field(0.0, ge=0)  # cancel a resting limit after this (s); 0: never


@dataclass
class BrokerCounters:
    """What the simulator has seen and sent since start."""

    orders_received: int = 0
    acks_sent: int = 0
    rejects_sent: int = 0
    fills_sent: int = 0
    orders_filled: int = 0
    cancels_received: int = 0
    cancels_sent: int = 0
    replaces_received: int = 0
    replaces_sent: int = 0
    cancel_rejects_sent: int = 0
    unsolicited_cancels_sent: int = 0
    drops: int = 0  # connections dropped on purpose (#19)
    dropcopies_sent: int = 0  # #19: copies sent on drop-copy sessions, each session counted
    dropcopies_skipped: int = 0  # fills whose copy was left out on purpose
    dropcopy_extras_sent: int = 0  # fills of an order the OMS never sent
    dropcopies_altered: int = 0
    dropcopies_duplicated: int = 0
    logons_refused: int = 0
    status_requests: int = 0
    poss_resends_ignored: int = 0  # D/F/G with PossResend=Y whose ClOrdID was handled before
    orders_waited: int = 0  # #20, with a market: arrived before the symbol's first quote
    orders_rested: int = 0  # limits not marketable on arrival (or on the first quote)
    rests_expired: int = 0  # resting limits canceled after rest_timeout
    errors: int = 0


@dataclass(slots=True, eq=False)
class SimOrder:
    """One order as the broker holds it."""

    session_key: str
    order_id: str
    cl_ord_id: str
    symbol: str
    side: str
    ord_type: str
    order_qty: Decimal
    price: Decimal | None
    account: str | None
    fill_px: Decimal
    status: str = "0"
    cum_qty: Decimal = ZERO
    notional: Decimal = ZERO
    fills_left: int = 0
    # #20, with a market: "wait" (no quote yet), "rest" (a limit away from the market),
    # "touch" (fills at the touch), "limit" (reached: fills at its limit); "": fill_px
    pricing: str = ""
    cl_ord_ids: list[str] = field(default_factory=list)  # the chain, first ClOrdID first
    fills: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # ExecID, qty, px

    @property
    def leaves_qty(self) -> Decimal:
        if self.status in TERMINAL_ORD_STATUSES:
            return ZERO
        return max(self.order_qty - self.cum_qty, ZERO)

    @property
    def avg_px(self) -> Decimal:
        if not self.cum_qty:
            return ZERO
        return (self.notional / self.cum_qty).quantize(AVG_PX_QUANTUM)

    @property
    def is_done(self) -> bool:
        return self.status in TERMINAL_ORD_STATUSES


def status_for_quantities(order_qty: Decimal, cum_qty: Decimal) -> str:
    """OrdStatus of a working order from its quantities: New, PartiallyFilled or Filled."""
    if cum_qty >= order_qty:
        return "2"
    return "1" if cum_qty > 0 else "0"


def next_fill_qty(leaves: Decimal, fills_left: int) -> Decimal:
    """The next partial fill: an even share of the leaves, whole lots where the leaves are
    whole; the last fill takes everything left, so the fills sum exactly to OrderQty."""
    if fills_left <= 1:
        return leaves
    exponent = leaves.as_tuple().exponent
    quantum = (
        Decimal(1) if leaves == leaves.to_integral_value() else Decimal(1).scaleb(int(exponent))
    )
    share = (leaves / fills_left / quantum).to_integral_value(rounding=ROUND_FLOOR) * quantum
    return min(max(share, quantum), leaves)


class Scheduler:
    """One daemon thread running delayed calls in time order (partial fills, unsolicited
    cancels); a thread per order would not survive a benchmark."""

    def __init__(self, name: str) -> None:
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = itertools.count()
        self._wakeup = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_later(self, delay: float, func: Callable[..., None], *args: Any) -> None:
        due = time.monotonic() + delay
        with self._wakeup:
            heapq.heappush(self._queue, (due, next(self._sequence), func, args))
            if self._queue[0][0] == due:
                self._wakeup.notify()

    def stop(self) -> None:
        with self._wakeup:
            self._stopped = True
            self._queue.clear()
            self._wakeup.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopped and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wakeup.wait(timeout)
                if self._stopped:
                    return
                _, _, func, args = heapq.heappop(self._queue)
            try:
                func(*args)
            except Exception:
                log.exception("broker simulator: scheduled call failed")


@keeps_thread_state
class BrokerApplication(fix.Application):
    """The quickfix callbacks; all order logic runs under one lock, sends included, so the
    reports of one order leave in the order they were decided."""

    def __init__(self, options: BrokerSimOptions, scheduler: Scheduler) -> None:
        super().__init__()
        self.options = options
        self.counters = BrokerCounters()
        self.logged_on: set[str] = set()
        self._scheduler = scheduler
        self._rng = random.Random(options.seed)
        self._lock = threading.RLock()
        self._session_ids: dict[str, fix.SessionID] = {}
        self._orders: dict[tuple[str, str], SimOrder] = {}  # (session, any ClOrdID of the chain)
        self._by_order_id: dict[str, SimOrder] = {}
        self._finished: deque[SimOrder] = deque()
        # the auditor's book: ClOrdID -> MsgTypes (D/F/G) that carried it, in arrival order;
        # every order answered, by OrderID, never forgotten (``book()``)
        self._arrivals: dict[str, list[str]] = {}
        self._requests: set[tuple[str, str]] = set()  # (session, ClOrdID) of D/F/G handled
        self._refuse_logons_until = 0.0  # time.monotonic(): #19, a gateway outage
        self._book: dict[str, SimOrder] | None = {} if options.keep_book else None
        # #20: the market's latest quotes (None: fixed prices), how to subscribe a symbol,
        # and the orders waiting for a first quote or resting, by symbol
        self.market: MarketDataBook | None = None
        self.subscribe: Callable[[str], None] | None = None
        self._watching: dict[str, list[SimOrder]] = {}
        prefix = run_prefix()
        # #19: the drop-copy sessions (keys), and the fills seen for its injected breaks
        copier = options.dropcopy_sender_comp_id or options.sender_comp_id
        self.drop_copy_keys = frozenset(f"FIX.4.4:{copier}->{target}"
                                        for target in options.dropcopy_target_comp_ids)
        self._fills_copied = 0
        self._copies_made = 0
        self._extras_left = options.dropcopy_extra
        self._exec_ids = (f"{prefix}-E{n}" for n in itertools.count(1))
        self._order_ids = (f"{prefix}-O{n}" for n in itertools.count(1))

    # -- quickfix callbacks -------------------------------------------------------------

    def onCreate(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self._session_ids[sessionID.toString()] = copy_session_id(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.logged_on.add(sessionID.toString())
        log.info("broker simulator: %s logged on", sessionID.toString())

    def onLogout(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.logged_on.discard(sessionID.toString())
        log.info("broker simulator: %s logged out", sessionID.toString())

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        if time.monotonic() < self._refuse_logons_until and \
                message.getHeader().getField(35) == "A":
            self.counters.logons_refused += 1
            raise fix.RejectLogon("gateway unavailable")

    def _drop_all(self) -> None:
        self.drop_connections()

    def drop_connections(self, sessions: list[str] | None = None) -> list[str]:
        """#19: close the connection of ``sessions`` (default: every session logged on)
        without a Logout, as a gateway that dies does, and refuse logons for
        ``refuse_logons_for`` seconds. The book stays: the broker behind the gateway
        keeps its orders. Returns the sessions dropped."""
        self._refuse_logons_until = time.monotonic() + self.options.refuse_logons_for
        dropped = []
        for key in sorted(self.logged_on if sessions is None else sessions):
            session = fix.Session.lookupSession(self._session_ids[key])
            if session is not None:
                session.disconnect()
                dropped.append(key)
        self.counters.drops += 1
        log.warning("broker simulator: dropped %s; refusing logons for %g s",
                    ", ".join(dropped) or "no session", self.options.refuse_logons_for)
        return dropped

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        msg_type = message.getHeader().getField(35)
        handler = self._handlers.get(msg_type)
        key = sessionID.toString()
        if handler is None or key in self.drop_copy_keys:  # a drop copy takes no orders
            raise fix.UnsupportedMessageType()
        try:
            with self._lock:
                if msg_type != "H" and message.isSetField(11):
                    request = (key, message.getField(11))
                    header = message.getHeader()
                    if request in self._requests and header.isSetField(97) and \
                            header.getField(97) == "Y":
                        # PossResend (97=Y): the sender may have sent it before, under
                        # another MsgSeqNum (a session that reset); a known ClOrdID was
                        # handled then, so it is not handled twice (FIX 4.4 Vol 2)
                        self.counters.poss_resends_ignored += 1
                        return
                    self._requests.add(request)
                    if self._book is not None:
                        self._arrivals.setdefault(request[1], []).append(msg_type)
                handler(self, key, message)
        except fix.FIXException:
            raise  # the engine turns these into the right session-level Reject
        except Exception:
            self.counters.errors += 1
            log.exception("broker simulator: cannot handle %s on %s", msg_type, key)

    # -- new orders ---------------------------------------------------------------------

    def _on_new_order(self, key: str, message: fix.Message) -> None:
        self.counters.orders_received += 1
        if self.options.drop_after and \
                self.counters.orders_received == self.options.drop_after:
            # after this order is answered, on the scheduler's thread
            self._scheduler.call_later(0.0, self._drop_all)
        if message.getField(55) in self.options.session_reject_symbols:
            raise fix.IncorrectTagValue(55)  # the engine answers with a Reject (3)
        cl_ord_id = message.getField(11)
        ord_type = message.getField(40)
        price = Decimal(message.getField(44)) if message.isSetField(44) else None
        order = SimOrder(
            session_key=key,
            order_id=next(self._order_ids),
            cl_ord_id=cl_ord_id,
            symbol=message.getField(55),
            side=message.getField(54),
            ord_type=ord_type,
            order_qty=Decimal(message.getField(38)),
            price=price,
            account=message.getField(1) if message.isSetField(1) else None,
            fill_px=self._fill_px(ord_type, price),
            cl_ord_ids=[cl_ord_id],
        )
        if self._book is not None:
            self._book[order.order_id] = order
        reason = self._new_order_problem(key, order)
        if reason is not None:
            order.status = "8"
            self.counters.rejects_sent += 1
            self._send_report(order, "8", rej_reason=reason[0], text=reason[1])
            return
        self._remember(order)
        self.counters.acks_sent += 1
        self._send_report(order, "0")
        self._after_ack(order)

    def _fill_px(self, ord_type: str, price: Decimal | None) -> Decimal:
        if self.options.fill_px is not None:
            return self.options.fill_px
        if price is not None and ord_type in ("2", "4"):
            return price
        return self.options.market_px

    def _new_order_problem(self, key: str, order: SimOrder) -> tuple[str, str] | None:
        """(OrdRejReason, Text) when the order is refused, else None."""
        existing = self._orders.get((self._book_key(key), order.cl_ord_id))
        if existing is not None and not existing.is_done:
            return "6", f"duplicate ClOrdID {order.cl_ord_id}"
        if order.order_qty <= 0:
            return "13", "OrderQty must be positive"
        if self.options.reject_rate and self._rng.random() < self.options.reject_rate:
            return "0", "simulated broker reject"
        return None

    def _after_ack(self, order: SimOrder) -> None:
        if self.market is not None:
            self._price_on_market(order)
        else:
            self._start_filling(order)
        if (
            not order.is_done
            and self.options.unsolicited_cancel_rate
            and self._rng.random() < self.options.unsolicited_cancel_rate
        ):
            delay = self.options.unsolicited_cancel_delay
            self._scheduler.call_later(delay, self._unsolicited_cancel, order)

    def _start_filling(self, order: SimOrder) -> None:
        mode = self.options.fill_mode
        if mode == "immediate":
            self._fill(order, order.leaves_qty)
        elif mode == "partial":
            order.fills_left = self.options.partial_fills
            self._scheduler.call_later(self.options.fill_interval, self._fill_tick, order)

    # -- the market (#20): orders waiting for a quote or resting, checked on each update --

    def _price_on_market(self, order: SimOrder) -> None:
        """Trade now at the touch, or wait for a first quote, or rest (under the lock)."""
        assert self.market is not None
        if self.subscribe is not None:
            self.subscribe(order.symbol)
        state = marketfill.on_arrival(order.side, order.ord_type, order.price,
                                      self.market.quote(order.symbol))
        if state == "marketable":
            order.pricing = "touch"
            self._start_filling(order)
            return
        order.pricing = state
        self._watching.setdefault(order.symbol, []).append(order)
        if state == "wait":
            self.counters.orders_waited += 1
        else:
            self._rest(order)

    def _rest(self, order: SimOrder) -> None:
        self.counters.orders_rested += 1
        if self.options.rest_timeout:
            self._scheduler.call_later(self.options.rest_timeout, self._expire, order)

    def on_market(self, symbol: str, trade_px: Decimal | None = None) -> None:
        """A quote or a trade of ``symbol`` arrived (the market-data thread): decide the
        orders waiting for a quote, fill the resting limits it reaches."""
        if not self._watching.get(symbol) or self.market is None:
            return
        with self._lock:
            quote = self.market.quote(symbol)
            kept = []
            for order in self._watching.get(symbol, ()):
                if order.is_done or order.pricing not in ("wait", "rest"):
                    continue
                if order.pricing == "wait":
                    state = marketfill.on_arrival(order.side, order.ord_type, order.price,
                                                  quote)
                    if state == "wait":
                        kept.append(order)
                        continue
                    if state == "marketable":
                        order.pricing = "touch"
                        self._start_filling(order)
                        continue
                    order.pricing = "rest"
                    self._rest(order)
                if order.price is not None and marketfill.reached(order.side, order.price,
                                                                  quote, trade_px):
                    order.pricing = "limit"
                    self._start_filling(order)
                    continue
                kept.append(order)
            self._watching[symbol] = kept

    def _expire(self, order: SimOrder) -> None:
        with self._lock:
            if order.is_done or order.pricing != "rest":
                return
            order.status = "4"
            self.counters.rests_expired += 1
            self._finish(order)
            self._send_report(order, "4", text="expired: the market did not reach the limit")

    def _fill_price(self, order: SimOrder) -> Decimal:
        if order.pricing == "limit" and order.price is not None:
            return order.price
        if order.pricing == "touch" and self.market is not None:
            price = marketfill.fill_price(order.side, order.ord_type, order.price,
                                          self.market.quote(order.symbol),
                                          self.options.impact_bps)
            if price is not None:
                return price
            if order.fills:  # that side of the book went away: the last price again
                return order.fills[-1][2]
        return order.fill_px

    # -- fills and unsolicited cancels (scheduler thread) -------------------------------

    def _fill_tick(self, order: SimOrder) -> None:
        with self._lock:
            if order.is_done:
                return
            quantity = next_fill_qty(order.leaves_qty, order.fills_left)
            order.fills_left = max(order.fills_left - 1, 0)
            self._fill(order, quantity)
            if not order.is_done:
                self._scheduler.call_later(self.options.fill_interval, self._fill_tick, order)

    def _fill(self, order: SimOrder, quantity: Decimal) -> None:
        price = self._fill_price(order)
        order.cum_qty += quantity
        order.notional += quantity * price
        order.status = status_for_quantities(order.order_qty, order.cum_qty)
        self.counters.fills_sent += 1
        if order.is_done:
            self.counters.orders_filled += 1
            self._finish(order)
        exec_id = self._send_report(order, "F", last_qty=quantity, last_px=price)
        if self._book is not None:
            order.fills.append((exec_id, quantity, price))
        if self.drop_copy_keys:
            self._copy_fill(order, exec_id, quantity, price)

    # -- the drop copy (#19) ------------------------------------------------------------

    def _copy_fill(self, order: SimOrder, exec_id: str, quantity: Decimal,
                   price: Decimal) -> None:
        """Send the copy of a fill just sent, with the breaks the options ask for."""
        options = self.options
        self._fills_copied += 1
        if options.dropcopy_skip and self._fills_copied % options.dropcopy_skip == 0:
            self.counters.dropcopies_skipped += 1
            return
        self._copies_made += 1
        if options.dropcopy_alter and self._copies_made == 1:
            self.counters.dropcopies_altered += 1
            quantity += 1
        copies = 2 if options.dropcopy_duplicate and self._copies_made == 2 else 1
        self.counters.dropcopies_duplicated += copies - 1
        for _ in range(copies):
            self._send_copy(order, exec_id, quantity, price)
        if self._extras_left:
            self._send_extras()

    def _send_copy(self, order: SimOrder, exec_id: str, quantity: Decimal,
                   price: Decimal) -> None:
        msg = new_message("8")
        for tag, value in ((37, order.order_id), (17, exec_id), (150, "F"),
                           (39, order.status), (11, order.cl_ord_id), (55, order.symbol),
                           (54, order.side), (40, order.ord_type),
                           (38, fix_decimal(order.order_qty)),
                           (151, fix_decimal(order.leaves_qty)),
                           (14, fix_decimal(order.cum_qty)), (6, fix_decimal(order.avg_px)),
                           (32, fix_decimal(quantity)), (31, fix_decimal(price)),
                           (60, utc_timestamp()), (797, "Y")):
            msg.setField(tag, value)
        if order.account is not None:
            msg.setField(1, order.account)
        if order.price is not None:
            msg.setField(44, fix_decimal(order.price))
        for key in sorted(self.drop_copy_keys):
            self.counters.dropcopies_sent += 1
            self._send(msg, key)

    def _send_extras(self) -> None:
        """#19: fills of an order placed with the broker outside the OMS (a trader's
        phone order, another system): only the drop copy shows them."""
        qty = Decimal(self._extras_left * 10)
        order = SimOrder(session_key="", order_id=next(self._order_ids),
                         cl_ord_id=f"{run_prefix()}-PHONE", symbol=self.options.dropcopy_extra_symbol,
                         side="1", ord_type="1", order_qty=qty, price=None, account=None,
                         fill_px=self.options.market_px, cl_ord_ids=[])
        while self._extras_left:
            self._extras_left -= 1
            order.cum_qty += 10
            order.notional += 10 * order.fill_px
            order.status = status_for_quantities(order.order_qty, order.cum_qty)
            self.counters.dropcopy_extras_sent += 1
            self._send_copy(order, next(self._exec_ids), Decimal(10), order.fill_px)

    def _unsolicited_cancel(self, order: SimOrder) -> None:
        with self._lock:
            if order.is_done:
                return
            order.status = "4"
            self.counters.unsolicited_cancels_sent += 1
            self._finish(order)
            self._send_report(order, "4", text="unsolicited cancel by broker")

    # -- cancel and replace -------------------------------------------------------------

    def _on_cancel(self, key: str, message: fix.Message) -> None:
        self.counters.cancels_received += 1
        cl_ord_id = message.getField(11)
        orig_cl_ord_id = message.getField(41)
        order = self._orders.get((self._book_key(key), orig_cl_ord_id))
        refusal = self._cancel_refusal(order, self.options.cancel_policy)
        if refusal is not None:
            self._send_cancel_reject(key, order, cl_ord_id, orig_cl_ord_id, "1", *refusal)
            return
        assert order is not None
        order.session_key = key  # answered where asked (shared_book: maybe another session)
        previous = order.cl_ord_id
        self._relabel(order, cl_ord_id)
        order.status = "4"
        self.counters.cancels_sent += 1
        self._finish(order)
        self._send_report(order, "4", orig_cl_ord_id=previous)

    def _on_replace(self, key: str, message: fix.Message) -> None:
        self.counters.replaces_received += 1
        cl_ord_id = message.getField(11)
        orig_cl_ord_id = message.getField(41)
        order = self._orders.get((self._book_key(key), orig_cl_ord_id))
        refusal = self._cancel_refusal(order, self.options.replace_policy)
        if refusal is None and (self._book_key(key), cl_ord_id) in self._orders:
            refusal = ("2", f"duplicate ClOrdID {cl_ord_id}")
        if refusal is not None:
            self._send_cancel_reject(key, order, cl_ord_id, orig_cl_ord_id, "2", *refusal)
            return
        assert order is not None
        order.session_key = key
        previous = order.cl_ord_id
        self._relabel(order, cl_ord_id)
        if message.isSetField(38):
            order.order_qty = Decimal(message.getField(38))
        if message.isSetField(44):
            order.price = Decimal(message.getField(44))
            if self.options.fill_px is None and order.ord_type in ("2", "4"):
                order.fill_px = order.price
        # Appendix D: a replace down to or below CumQty leaves the order Filled.
        order.status = status_for_quantities(order.order_qty, order.cum_qty)
        self.counters.replaces_sent += 1
        if order.is_done:
            self.counters.orders_filled += 1
            self._finish(order)
        self._send_report(order, "5", orig_cl_ord_id=previous)
        if not order.is_done and order.pricing == "rest" and self.market is not None and \
                marketfill.marketable(order.side, order.ord_type, order.price,
                                      self.market.quote(order.symbol)):
            order.pricing = "touch"  # replaced to a marketable limit: it trades now
            self._start_filling(order)
        # partial mode: the scheduled fill ticks carry on against the new leaves

    def _cancel_refusal(self, order: SimOrder | None, policy: Policy) -> tuple[str, str] | None:
        """(CxlRejReason, Text) when a cancel or replace is refused, else None."""
        if order is None:
            return "1", "unknown order"
        if order.is_done:
            return "0", "too late: order is done"
        if policy == "deny":
            return "2", "denied by broker option"
        return None

    def _book_key(self, session: str) -> str:
        """Whose orders a ClOrdID names: the session's, or with ``shared_book`` every
        session's (#19: a broker that takes a cancel on any of our sessions)."""
        return "" if self.options.shared_book else session

    def _relabel(self, order: SimOrder, cl_ord_id: str) -> None:
        order.cl_ord_id = cl_ord_id
        self._orders[(self._book_key(order.session_key), cl_ord_id)] = order
        order.cl_ord_ids.append(cl_ord_id)

    # -- status requests ----------------------------------------------------------------

    def _on_status_request(self, key: str, message: fix.Message) -> None:
        self.counters.status_requests += 1
        cl_ord_id = message.getField(11)
        order = self._orders.get((self._book_key(key), cl_ord_id))
        if order is None and message.isSetField(37):
            order = self._by_order_id.get(message.getField(37))
        req_id = message.getField(790) if message.isSetField(790) else None
        if order is None:
            unknown = SimOrder(
                session_key=key,
                order_id="NONE",
                cl_ord_id=cl_ord_id,
                symbol=message.getField(55),
                side=message.getField(54),
                ord_type="1",
                order_qty=ZERO,
                price=None,
                account=None,
                fill_px=ZERO,
                status="8",
            )
            self._send_report(unknown, "I", text="unknown order", status_req_id=req_id)
            return
        self._send_report(order, "I", status_req_id=req_id)

    # -- bookkeeping --------------------------------------------------------------------

    def _remember(self, order: SimOrder) -> None:
        self._orders[(self._book_key(order.session_key), order.cl_ord_id)] = order
        self._by_order_id[order.order_id] = order

    def _finish(self, order: SimOrder) -> None:
        """Keep finished orders for late cancels and status requests, up to a bound."""
        self._finished.append(order)
        while len(self._finished) > self.options.retain_finished:
            old = self._finished.popleft()
            for cl_ord_id in old.cl_ord_ids:
                self._orders.pop((self._book_key(old.session_key), cl_ord_id), None)
            self._by_order_id.pop(old.order_id, None)

    # -- outbound messages --------------------------------------------------------------

    def _send_report(
        self,
        order: SimOrder,
        exec_type: str,
        *,
        orig_cl_ord_id: str | None = None,
        last_qty: Decimal | None = None,
        last_px: Decimal | None = None,
        rej_reason: str | None = None,
        text: str | None = None,
        status_req_id: str | None = None,
    ) -> str:
        """Send an ExecutionReport for ``order``; return its ExecID."""
        exec_id = next(self._exec_ids)
        msg = new_message("8")
        msg.setField(37, order.order_id)
        msg.setField(17, exec_id)
        msg.setField(150, exec_type)
        msg.setField(39, order.status)
        msg.setField(11, order.cl_ord_id)
        msg.setField(55, order.symbol)
        msg.setField(54, order.side)
        msg.setField(40, order.ord_type)
        msg.setField(38, fix_decimal(order.order_qty))
        if order.price is not None:
            msg.setField(44, fix_decimal(order.price))
        msg.setField(151, fix_decimal(order.leaves_qty))
        msg.setField(14, fix_decimal(order.cum_qty))
        msg.setField(6, fix_decimal(order.avg_px))
        msg.setField(60, utc_timestamp())
        if order.account is not None:
            msg.setField(1, order.account)
        if orig_cl_ord_id is not None:
            msg.setField(41, orig_cl_ord_id)
        if last_qty is not None and last_px is not None:
            msg.setField(32, fix_decimal(last_qty))
            msg.setField(31, fix_decimal(last_px))
        if rej_reason is not None:
            msg.setField(103, rej_reason)
        if text is not None:
            msg.setField(58, text)
        if status_req_id is not None:
            msg.setField(790, status_req_id)
        self._send(msg, order.session_key)
        return exec_id

    def _send_cancel_reject(
        self,
        key: str,
        order: SimOrder | None,
        cl_ord_id: str,
        orig_cl_ord_id: str,
        response_to: str,
        reason: str,
        text: str,
    ) -> None:
        msg = new_message("9")
        msg.setField(37, order.order_id if order is not None else "NONE")
        msg.setField(11, cl_ord_id)
        msg.setField(41, orig_cl_ord_id)
        # FIX 4.4: OrdStatus after the reject; Rejected when the order is unknown.
        msg.setField(39, order.status if order is not None else "8")
        msg.setField(434, response_to)
        msg.setField(102, reason)
        msg.setField(58, text)
        msg.setField(60, utc_timestamp())
        self.counters.cancel_rejects_sent += 1
        self._send(msg, key)

    def _send(self, msg: fix.Message, key: str) -> None:
        session_id = self._session_ids.get(key)
        try:
            sent = session_id is not None and fix.Session.sendToTarget(msg, session_id)
        except fix.SessionNotFound:
            sent = False
        if not sent:
            log.warning("broker simulator: could not send on %s", key)

    # -- the auditor's book -------------------------------------------------------------

    def book(self) -> dict[str, Any]:
        """The book as plain data: ``children`` maps each ClOrdID that arrived in a D, F or
        G to how many of each carried it (``{"D": 2}`` is a child sent twice); ``orders``
        maps each OrderID to its ClOrdID chain, OrderQty, CumQty, OrdStatus and fills
        (ExecID, LastQty, LastPx) as sent. Empty with ``keep_book=False``."""
        with self._lock:
            children = {
                cl_ord_id: {kind: kinds.count(kind) for kind in set(kinds)}
                for cl_ord_id, kinds in self._arrivals.items()
            }
            orders = {
                order_id: {
                    "cl_ord_ids": list(order.cl_ord_ids),
                    "order_qty": order.order_qty,
                    "cum_qty": order.cum_qty,
                    "status": order.status,
                    "fills": list(order.fills),
                }
                for order_id, order in (self._book or {}).items()
            }
        return {"children": children, "orders": orders}

    _handlers: dict[str, Callable[[BrokerApplication, str, fix.Message], None]] = {
        "D": _on_new_order,
        "F": _on_cancel,
        "G": _on_replace,
        "H": _on_status_request,
    }


class _MarketSink:
    """What the broker's market-data feed tells: kept in a ``MarketDataBook``, then each
    update of a symbol checks that symbol's waiting and resting orders."""

    def __init__(self, book: MarketDataBook, on_update: Callable[..., None]) -> None:
        self.book = book
        self.on_update = on_update

    def on_quote(self, symbol: str, bid: Decimal | None, bid_size: Decimal | None,
                 ask: Decimal | None, ask_size: Decimal | None, ts: datetime) -> None:
        self.book.on_quote(symbol, bid, bid_size, ask, ask_size, ts)
        self.on_update(symbol)

    def on_trade(self, symbol: str, px: Decimal, qty: Decimal, ts: datetime) -> None:
        self.book.on_trade(symbol, px, qty, ts)
        self.on_update(symbol, px)

    def on_trades(self, symbol: str, trades: Sequence[tuple[Decimal, Decimal]],
                  ts: datetime) -> None:
        for px, qty in trades:
            self.on_trade(symbol, px, qty, ts)

    def on_status(self, source: str, text: str) -> None:
        self.book.on_status(source, text)


class BrokerSimulator:
    """The broker simulator's engine, scheduler and callbacks, started and stopped together."""

    def __init__(self, options: BrokerSimOptions) -> None:
        self.options = options
        self._scheduler = Scheduler(f"broker-sim-{options.sender_comp_id}")
        self.application = BrokerApplication(options, self._scheduler)
        self._sessions = [
            session_spec(options.sender_comp_id, target, options.reset_on_logon)
            for target in options.target_comp_ids
        ] + [
            session_spec(options.dropcopy_sender_comp_id or options.sender_comp_id, target,
                         options.reset_on_logon)
            for target in options.dropcopy_target_comp_ids
        ]
        self._engine: Engine | None = None
        self._market_engine: Engine | None = None
        self.market_feed: FixMarketDataFeed | None = None
        if options.market_port is not None:
            book = MarketDataBook()
            self.application.market = book
            self.market_feed = FixMarketDataFeed(
                f"{options.sender_comp_id}-md", _MarketSink(book, self.application.on_market),
                options.market_symbols)
            self.application.subscribe = lambda symbol: self.market_feed.subscribe(  # type: ignore[union-attr]
                [symbol])

    @property
    def counters(self) -> BrokerCounters:
        return self.application.counters

    def counters_dict(self) -> dict[str, int]:
        return asdict(self.application.counters)

    def book(self) -> dict[str, Any]:
        """What arrived and what was sent, for an auditor: ``BrokerApplication.book``."""
        return self.application.book()

    def session_ids(self) -> list[fix.SessionID]:
        return [
            fix.SessionID("FIX.4.4", spec.sender_comp_id, spec.target_comp_id)
            for spec in self._sessions
        ]

    def logged_on(self) -> list[str]:
        return sorted(self.application.logged_on)

    def start(self) -> None:
        options = self.options
        self._engine = build_engine(
            "acceptor",
            self.application,
            Path(options.sessions_dir),
            self._sessions,
            {"SocketAcceptPort": str(options.port)},
            heartbeat_interval=options.heartbeat_interval,
            file_log=options.file_log,
            data_dictionary=options.data_dictionary,
        )
        if self.market_feed is not None:
            spec = SessionSpec(options.market_sender, options.market_target, {
                "SocketConnectHost": options.market_host,
                "SocketConnectPort": str(options.market_port),
                "ReconnectInterval": "1", "ResetOnLogon": "Y"})
            self._market_engine = build_engine(
                "initiator", MarketDataClient({spec.key: self.market_feed}),
                Path(options.sessions_dir) / "market", [spec], {},
                heartbeat_interval=options.heartbeat_interval, file_log=options.file_log,
                data_dictionary=options.data_dictionary)
        self._scheduler.start()
        self._engine.start()
        if self._market_engine is not None:
            self._market_engine.start()
        log.info(
            "broker simulator %s listening on %s:%d for %s",
            options.sender_comp_id,
            options.host,
            options.port,
            ", ".join(options.target_comp_ids),
        )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the scheduler, log the sessions out (waiting up to ``timeout`` s), stop."""
        self._scheduler.stop()
        if self._market_engine is not None:
            stop_engine(self._market_engine, timeout)
            self._market_engine = None
        if self._engine is not None:
            stop_engine(self._engine, timeout)
            self._engine = None

    def __enter__(self) -> BrokerSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_broker(
    options: BrokerSimOptions, stop_event: threading.Event | None = None
) -> dict[str, int]:
    """Run the simulator until Ctrl-C or ``stop_event``; return its counters."""
    simulator = BrokerSimulator(options)
    stop_event = stop_event or threading.Event()
    simulator.start()
    if threading.current_thread() is threading.main_thread():
        # #19: ``kill -USR1`` drops the connections, as a gateway outage
        signal.signal(signal.SIGUSR1, lambda *_: simulator.application.drop_connections())
    try:
        while not stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return simulator.counters_dict()
