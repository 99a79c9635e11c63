"""``oms sim market``: a FIX 4.4 market-data acceptor serving the synthetic market.

What it does: accepts MarketDataRequest (V) on one session per client CompID. A request
for snapshot and updates (SubscriptionRequestType 1) of bid (0), offer (1) and trade (2)
entries, top of book (MarketDepth 0 or 1), incremental updates (MDUpdateType 1, or absent),
is answered with a MarketDataSnapshotFullRefresh (W) per symbol and then a
MarketDataIncrementalRefresh (X) per market event of its symbols; SubscriptionRequestType 0
gets the snapshot only, 2 ends the subscription its MDReqID names. An unknown symbol, a
duplicate MDReqID or anything not supported gets a MarketDataRequestReject (Y) with
MDReqRejReason and a Text saying why.

The X entries: a quote whose price did not move changes its entry's size (MDUpdateAction 1);
a price that moved deletes the old entry (2) and adds the new level under a new MDEntryID
(0). FIX 4.4's W has no MDEntryID, so the first update after a snapshot names the entry by
its MDEntryType (the top of that side). A trade is a new entry (0) of type 2 with its own id.

The events come from ``oms.marketdata.generator.MarketGenerator`` (same ``seed``, same
stream), ``rate`` per second over all symbols (0: as fast as it can), on one thread.
What it does not do: depth beyond the top, market-data recovery (a client resubscribes), or
trading: the broker simulator's ``--market`` reads this feed to fill at its prices.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import quickfix as fix
from pydantic import BaseModel, ConfigDict, Field

from oms.fix.engine import Engine, copy_session_id, keeps_thread_state
from oms.fix.marketdata import (
    BID,
    CHANGE,
    DELETE,
    ENTRY_TYPES,
    NEW,
    OFFER,
    SNAPSHOT,
    SUBSCRIBE,
    TRADE,
    UNSUBSCRIBE,
    split_ordered,
)
from oms.marketdata.generator import DEFAULT_SYMBOLS, MarketGenerator, QuoteEvent, TradeEvent
from oms.sim.common import build_engine, fix_decimal, new_message, session_spec, stop_engine

log = logging.getLogger(__name__)


class MarketSimOptions(BaseModel):
    """Everything the market simulator can be told; one field per CLI flag."""

    model_config = ConfigDict(extra="forbid")

    sessions_dir: Path
    port: int = Field(9878, ge=1, le=65535)
    sender_comp_id: str = "MARKET"
    target_comp_ids: list[str] = Field(default_factory=lambda: ["OMS"], min_length=1)
    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS), min_length=1)
    seed: int = 0
    start_px: Decimal | None = Field(None, gt=0)  # every symbol's first mid; None: seeded
    rate: float = Field(100.0, ge=0)  # events per second over all symbols; 0: flat out
    session_steps: int = Field(23_400, ge=10)  # quotes in one simulated trading session
    max_events: int = Field(0, ge=0)  # stop generating after this many (0: never)
    reset_on_logon: bool = True  # market data is not resent: a reconnect resubscribes
    heartbeat_interval: int = Field(30, ge=1)
    file_log: bool = False
    data_dictionary: Path | None = None


@dataclass
class Subscription:
    """One MDReqID of one session: its symbols, the entry types it wants, and per symbol
    and side the entry it holds (MDEntryID or None: the snapshot's, named by type, and
    its price)."""

    session: str
    req_id: str
    symbols: list[str]
    types: frozenset[str]
    held: dict[tuple[str, str], tuple[str | None, object]] = field(default_factory=dict)


@keeps_thread_state
class MarketApplication(fix.Application):  # type: ignore[misc]
    """The quickfix callbacks and the subscriptions; one lock orders snapshots and updates."""

    def __init__(self, options: MarketSimOptions) -> None:
        super().__init__()
        self.options = options
        start = options.start_px
        self.generator = MarketGenerator(
            options.symbols, options.seed, session_steps=options.session_steps,
            start_px=None if start is None else dict.fromkeys(options.symbols, start))
        self.logged_on: set[str] = set()
        self._session_ids: dict[str, fix.SessionID] = {}
        self._lock = threading.RLock()
        self._subs: dict[tuple[str, str], Subscription] = {}
        self._by_symbol: dict[str, list[Subscription]] = {s: [] for s in options.symbols}
        self._ids = (f"E{n}" for n in itertools.count(1))
        self._last_trade: dict[str, TradeEvent] = {}
        self.events = 0
        self.updates_sent = 0
        self.snapshots_sent = 0
        self.rejects_sent = 0

    # -- quickfix callbacks -------------------------------------------------------------
    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self._session_ids[session_id.toString()] = copy_session_id(session_id)

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self.logged_on.add(session_id.toString())
        log.info("market simulator: %s logged on", session_id.toString())

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        self.logged_on.discard(key)
        with self._lock:  # a subscription lives as long as its connection
            for sub_key in [k for k in self._subs if k[0] == key]:
                self._drop(self._subs.pop(sub_key))
        log.info("market simulator: %s logged out", key)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        if message.getHeader().getField(35) != "V":
            raise fix.UnsupportedMessageType()
        self._on_request(session_id.toString(), split_ordered(message.toString()))

    # -- requests -----------------------------------------------------------------------
    def _on_request(self, key: str, fields: list[tuple[str, str]]) -> None:
        single = dict(fields)
        req_id = single.get("262", "")
        kind = single.get("263", "")
        symbols = [value for tag, value in fields if tag == "55"]
        types = frozenset(value for tag, value in fields if tag == "269")
        with self._lock:
            if kind == UNSUBSCRIBE:
                sub = self._subs.pop((key, req_id), None)
                if sub is not None:
                    self._drop(sub)
                return
            problem = self._refusal(key, req_id, kind, single, symbols, types)
            if problem is not None:
                self._reject(key, req_id, *problem)
                return
            sub = Subscription(key, req_id, symbols, types)
            for symbol in symbols:
                self._snapshot(sub, symbol)
            if kind == SUBSCRIBE:
                self._subs[(key, req_id)] = sub
                for symbol in symbols:
                    self._by_symbol[symbol].append(sub)

    def _refusal(self, key: str, req_id: str, kind: str, single: dict[str, str],
                 symbols: list[str], types: frozenset[str]) -> tuple[str, str] | None:
        """(MDReqRejReason, Text) when a request cannot be served, else None."""
        if kind not in (SNAPSHOT, SUBSCRIBE):
            return "4", f"SubscriptionRequestType {kind} is not supported"
        if (key, req_id) in self._subs:
            return "1", f"MDReqID {req_id} is already subscribed"
        if single.get("264", "1") not in ("0", "1"):
            return "5", "only the top of book (MarketDepth 0 or 1) is served"
        if single.get("265", "1") != "1":
            return "6", "only incremental refresh (MDUpdateType 1) is served"
        unsupported = sorted(types - set(ENTRY_TYPES))
        if unsupported:
            return "8", f"MDEntryType {', '.join(unsupported)} is not served (0, 1, 2 are)"
        unknown = [symbol for symbol in symbols if symbol not in self._by_symbol]
        if unknown or not symbols:
            return "0", f"unknown symbol {', '.join(unknown) or '(none given)'}"
        return None

    def _drop(self, sub: Subscription) -> None:
        for symbol in sub.symbols:
            subs = self._by_symbol.get(symbol, [])
            if sub in subs:
                subs.remove(sub)

    def _reject(self, key: str, req_id: str, reason: str, text: str) -> None:
        message = new_message("Y")
        message.setField(262, req_id)
        message.setField(281, reason)
        message.setField(58, text)
        self.rejects_sent += 1
        log.info("market simulator: rejected MDReqID %s on %s: %s", req_id, key, text)
        self._send(message, key)

    def _snapshot(self, sub: Subscription, symbol: str) -> None:
        quote = self.generator.last[symbol]
        message = new_message("W")
        message.setField(262, sub.req_id)
        message.setField(55, symbol)
        group = fix.Group(268, 269)
        for entry_type, px, size in ((BID, quote.bid, quote.bid_size),
                                     (OFFER, quote.ask, quote.ask_size)):
            if entry_type in sub.types:
                group.setField(269, entry_type)
                group.setField(270, fix_decimal(px))
                group.setField(271, fix_decimal(size))
                message.addGroup(group)
                sub.held[(symbol, entry_type)] = (None, px)
        trade = self._last_trade.get(symbol)
        if trade is not None and TRADE in sub.types:
            group.setField(269, TRADE)
            group.setField(270, fix_decimal(trade.px))
            group.setField(271, fix_decimal(trade.qty))
            message.addGroup(group)
        self.snapshots_sent += 1
        self._send(message, sub.session)

    # -- the stream ---------------------------------------------------------------------
    def emit(self) -> None:
        """Take the next event from the generator and send it to its subscribers."""
        with self._lock:
            event = self.generator.step()
            self.events += 1
            if isinstance(event, TradeEvent):
                self._last_trade[event.symbol] = event
            for sub in self._by_symbol[event.symbol]:
                message = self._update(sub, event)
                if message is not None:
                    self.updates_sent += 1
                    self._send(message, sub.session)

    def _update(self, sub: Subscription, event: QuoteEvent | TradeEvent) -> fix.Message | None:
        group = fix.Group(268, 279)
        message = new_message("X")
        message.setField(262, sub.req_id)
        entries = 0
        symbol = event.symbol
        if isinstance(event, TradeEvent):
            if TRADE not in sub.types:
                return None
            _entry(group, NEW, TRADE, next(self._ids), symbol, event.px, event.qty)
            message.addGroup(group)
            return message
        for entry_type, px, size in ((BID, event.bid, event.bid_size),
                                     (OFFER, event.ask, event.ask_size)):
            if entry_type not in sub.types:
                continue
            held_id, held_px = sub.held.get((symbol, entry_type), (None, None))
            if held_px == px:
                _entry(group, CHANGE, entry_type, held_id, symbol, None, size)
                message.addGroup(group)
                entries += 1
                continue
            _entry(group, DELETE, entry_type, held_id, symbol, None, None)
            message.addGroup(group)
            new_id = next(self._ids)
            _entry(group, NEW, entry_type, new_id, symbol, px, size)
            message.addGroup(group)
            sub.held[(symbol, entry_type)] = (new_id, px)
            entries += 2
        return message if entries else None

    def _send(self, message: fix.Message, key: str) -> None:
        session_id = self._session_ids.get(key)
        try:
            if session_id is not None and fix.Session.sendToTarget(message, session_id):
                return
        except fix.SessionNotFound:
            pass
        log.debug("market simulator: could not send on %s", key)


def _entry(group: fix.Group, action: str, entry_type: str, entry_id: str | None, symbol: str,
           px: object, size: object) -> None:
    """Fill ``group`` with one MDIncGrp entry (quickfix copies it at ``addGroup``)."""
    group.clear()
    group.setField(279, action)
    group.setField(269, entry_type)
    if entry_id is not None:
        group.setField(278, entry_id)
    group.setField(55, symbol)
    if px is not None:
        group.setField(270, fix_decimal(px))  # type: ignore[arg-type]
    if size is not None:
        group.setField(271, fix_decimal(size))  # type: ignore[arg-type]


class MarketSimulator:
    """The market simulator's engine and its stream thread, started and stopped together."""

    def __init__(self, options: MarketSimOptions) -> None:
        self.options = options
        self.application = MarketApplication(options)
        self._sessions = [session_spec(options.sender_comp_id, target, options.reset_on_logon)
                          for target in options.target_comp_ids]
        self._engine: Engine | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, stream: bool = True) -> None:
        """Listen; ``stream`` False leaves the events to ``emit`` calls (tests)."""
        options = self.options
        self._engine = build_engine(
            "acceptor", self.application, Path(options.sessions_dir), self._sessions,
            {"SocketAcceptPort": str(options.port)},
            heartbeat_interval=options.heartbeat_interval, file_log=options.file_log,
            data_dictionary=options.data_dictionary)
        self._engine.start()
        self._stop.clear()
        if stream:
            self._thread = threading.Thread(target=self._run, name="market-sim", daemon=True)
            self._thread.start()
        log.info("market simulator %s listening on port %d for %s: %s, seed %d, %g events/s",
                 options.sender_comp_id, options.port, ", ".join(options.target_comp_ids),
                 ",".join(options.symbols), options.seed, options.rate)

    def _run(self) -> None:
        rate = self.options.rate
        limit = self.options.max_events or None
        emit = self.application.emit
        started = time.monotonic()
        emitted = 0
        while not self._stop.is_set() and (limit is None or emitted < limit):
            if not self.application.logged_on:  # the market waits for a first client
                started = time.monotonic() - emitted / rate if rate else 0
                self._stop.wait(0.01)
                continue
            due = 1000 if not rate else int((time.monotonic() - started) * rate) - emitted
            if limit is not None:
                due = min(due, limit - emitted)
            for _ in range(min(due, 1000)):
                emit()
            emitted += max(due, 0)
            if rate and due <= 0:
                self._stop.wait(min(0.005, 1 / rate))

    def emit(self, n: int = 1) -> None:
        for _ in range(n):
            self.application.emit()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._engine is not None:
            stop_engine(self._engine, timeout)
            self._engine = None

    def counters(self) -> dict[str, int]:
        app = self.application
        return {"events": app.events, "snapshots_sent": app.snapshots_sent,
                "updates_sent": app.updates_sent, "rejects_sent": app.rejects_sent}

    def __enter__(self) -> MarketSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_market(options: MarketSimOptions, stop_event: threading.Event | None = None
               ) -> dict[str, int]:
    """Run the simulator until Ctrl-C or ``stop_event``; return its counters."""
    simulator = MarketSimulator(options)
    stop_event = stop_event or threading.Event()
    simulator.start()
    try:
        while not stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return simulator.counters()
