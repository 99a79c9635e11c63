"""A FIX 4.4 market-data initiator: subscribe, apply W and X, tell a ``MarketDataSink``.

``FixMarketDataFeed`` is one session's protocol, without the engine: on logon it sends a
MarketDataRequest (V, SubscriptionRequestType 1: snapshot and updates) per symbol, each
with its own MDReqID (a symbol can then be resubscribed or dropped alone), and it does so
again after every reconnect: the counterparty forgets subscriptions with the connection.
A MarketDataSnapshotFullRefresh (W) replaces the symbol's entries; a
MarketDataIncrementalRefresh (X) applies its entries in order (MDUpdateAction 0 new,
1 change, 2 delete). An entry is known by its MDEntryID, or, having none (FIX 4.4's W has
no MDEntryID; top-of-book updates may omit it), by its MDEntryType: the top of that side.
A delete without MDEntryID removes every entry of its type.

What cannot be applied is not guessed at: an X for a symbol waiting for its snapshot, or a
change or delete of an entry we do not know (a message lost, or the counterparty's and our
state apart), resubscribes that symbol (a new MDReqID, so late updates of the old one are
dropped) and says so in a log line. A MarketDataRequestReject (Y) goes to
``sink.on_status`` and a WARNING; the symbol is not asked for again until the next logon.

After each message the sink gets ``on_quote`` (best bid: highest bid entry; best offer:
lowest offer entry) for each symbol whose bids or offers it touched, and ``on_trades`` with
each symbol's trade entries (269=2) of an X, in order; a W's trade entry is the last trade
already reported, so it is not. Timestamps are the time of arrival (UTC).

It runs on the FIX engine's thread and calls the sink there, never through the OMS core's
queue: quotes come at rates orders never do, and must not wait behind, or delay, orders.
``MarketDataClient`` is a quickfix Application of its own for processes that are only a
market-data initiator (the broker simulator, the benchmark); the OMS's own Application
hands its market-data sessions' messages to a feed (oms/fix/app.py, role MARKET_DATA).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import quickfix as fix

from oms.fix.engine import copy_session_id, first_value, keeps_thread_state
from oms.marketdata.port import MarketDataSink, Quote

log = logging.getLogger(__name__)

BID, OFFER, TRADE = "0", "1", "2"
NEW, CHANGE, DELETE = "0", "1", "2"
SNAPSHOT, SUBSCRIBE, UNSUBSCRIBE = "0", "1", "2"  # SubscriptionRequestType (263)
ENTRY_TYPES = (BID, OFFER, TRADE)
# MDReqRejReason (281), FIX 4.4
REJECT_REASONS = {
    "0": "unknown symbol", "1": "duplicate MDReqID", "2": "insufficient bandwidth",
    "3": "insufficient permissions", "4": "unsupported SubscriptionRequestType",
    "5": "unsupported MarketDepth", "6": "unsupported MDUpdateType",
    "7": "unsupported AggregatedBook", "8": "unsupported MDEntryType",
    "9": "unsupported TradingSessionID", "A": "unsupported Scope",
    "B": "unsupported OpenCloseSettlFlag", "C": "unsupported MDImplicitDelete",
}


def market_data_request(req_id: str, symbols: Iterable[str], subscription: str = SUBSCRIBE,
                        entry_types: Iterable[str] = ENTRY_TYPES, depth: int = 1) -> fix.Message:
    """A MarketDataRequest (V): top of book (MarketDepth 1), incremental updates (265=1)."""
    message = fix.Message()
    header = message.getHeader()
    header.setField(8, "FIX.4.4")
    header.setField(35, "V")
    message.setField(262, req_id)
    message.setField(263, subscription)
    message.setField(264, str(depth))
    if subscription == SUBSCRIBE:
        message.setField(265, "1")
    types = fix.Group(267, 269)
    for entry_type in entry_types:
        types.setField(269, entry_type)
        message.addGroup(types)
    related = fix.Group(146, 55)
    for symbol in symbols:
        related.setField(55, symbol)
        message.addGroup(related)
    return message


def split_ordered(text: str) -> list[tuple[str, str]]:
    """A FIX message's fields in order (repeating groups need the order; a dict loses it)."""
    return [(tag, value) for tag, _, value in
            (field.partition("=") for field in text.split("\x01") if field)]


def _entries(text: str, start: int) -> list[dict[str, str]]:
    """The entries of an X whose first MDUpdateAction (279) field begins at ``start`` (its
    SOH): tag -> value each, in order. Quotes come thousands a second, so the fields are
    split in one go when no value holds an "=" (as many "=" as SOHs), one by one otherwise.
    Fields after the group (none in practice) go with the last entry."""
    end = text.rfind("\x0110=")
    group = text[start + 1:end if end > start else len(text)].rstrip("\x01")
    if group.count("=") == group.count("\x01") + 1:  # the last field has no SOH here
        items = group.replace("\x01", "=").split("=")
    else:
        items = [part for f in group.split("\x01") if f for part in f.split("=", 1)]
    entries: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    fields = iter(items)
    for tag, value in zip(fields, fields, strict=False):
        if tag == "279":
            entry = {"279": value}
            entries.append(entry)
        else:
            entry[tag] = value
    return entries


class _Book:
    """One symbol's entries: key (MDEntryID, or "=" + MDEntryType) -> [type, px, size]."""

    __slots__ = ("entries", "req_id")

    def __init__(self, req_id: str) -> None:
        self.req_id = req_id
        self.entries: dict[str, list] = {}

    def best(self) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
        bid = bid_size = ask = ask_size = None
        for entry_type, px, size in self.entries.values():
            if px is None:
                continue
            if entry_type == BID:
                if bid is None or px > bid:
                    bid, bid_size = px, size
            elif entry_type == OFFER and (ask is None or px < ask):
                ask, ask_size = px, size
        return bid, bid_size, ask, ask_size


class _Unapplicable(Exception):
    """An X entry that does not fit our state: the symbol is resubscribed."""


class FixMarketDataFeed:
    """One market-data session's subscriptions and books (see the module's docstring).

    ``symbols``: what to subscribe at every logon; ``subscribe`` adds more at any time.
    ``send`` is how a message leaves (default: ``fix.Session.sendToTarget`` on the session
    of the last logon); tests give their own."""

    def __init__(self, name: str, sink: MarketDataSink, symbols: Iterable[str] = (), *,
                 send: Callable[[fix.Message], bool] | None = None) -> None:
        self.name = name
        self.sink = sink
        self.symbols: list[str] = list(dict.fromkeys(symbols))
        self.session_id: fix.SessionID | None = None
        self.logged_on = False
        self._send = send or self._send_to_session
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._books: dict[str, _Book] = {}  # symbol -> its book, once requested
        self._waiting: set[str] = set()  # requested, no snapshot yet
        self._req_symbols: dict[str, str] = {}  # live MDReqID -> symbol
        self.rejected: dict[str, str] = {}  # symbol -> why the counterparty refused it
        self.messages = 0  # W and X applied
        self.resubscriptions = 0

    # --- the session ---------------------------------------------------------------------
    def on_logon(self, session_id: fix.SessionID | None = None) -> None:
        """(Re)subscribe every symbol: a new connection starts with no subscriptions."""
        with self._lock:
            if session_id is not None:
                self.session_id = copy_session_id(session_id)
            self.logged_on = True
            self._books.clear()
            self._waiting.clear()
            self._req_symbols.clear()
            self.rejected.clear()
            for symbol in self.symbols:
                self._request(symbol)
        log.info("market data %s: subscribed %d symbols", self.name, len(self.symbols))

    def on_logout(self) -> None:
        with self._lock:
            self.logged_on = False

    def subscribe(self, symbols: Iterable[str]) -> None:
        """Add symbols; those new are requested at once when logged on."""
        with self._lock:
            for symbol in symbols:
                if symbol and symbol not in self._books and symbol not in self.symbols:
                    self.symbols.append(symbol)
                    if self.logged_on:
                        self._request(symbol)

    def _request(self, symbol: str) -> None:
        old = self._books.get(symbol)
        if old is not None and old.req_id in self._req_symbols:
            del self._req_symbols[old.req_id]
            self._send(market_data_request(old.req_id, [symbol], UNSUBSCRIBE))
        req_id = f"{self.name}-{symbol}-{next(self._ids)}"
        self._books[symbol] = _Book(req_id)
        self._waiting.add(symbol)
        self._req_symbols[req_id] = symbol
        self._send(market_data_request(req_id, [symbol]))

    def resubscribe(self, symbol: str, why: str) -> None:
        with self._lock:
            self.resubscriptions += 1
            log.warning("market data %s: %s: %s; resubscribing", self.name, symbol, why)
            self._request(symbol)

    def _send_to_session(self, message: fix.Message) -> bool:
        if self.session_id is None:
            return False
        try:
            return bool(fix.Session.sendToTarget(message, self.session_id))
        except fix.SessionNotFound:
            return False

    # --- messages ------------------------------------------------------------------------
    def on_message(self, msg_type: str, text: str) -> bool:
        """Apply a W, X or Y (the message's text); False for any other message type."""
        if msg_type == "X":
            self._incremental(text)
        elif msg_type == "W":
            self._snapshot(split_ordered(text))
        elif msg_type == "Y":
            self._reject(dict(split_ordered(text)))
        else:
            return False
        return True

    def _snapshot(self, fields: list[tuple[str, str]]) -> None:
        now = datetime.now(UTC)
        req_id = symbol = ""
        entries: dict[str, list] = {}
        current: list | None = None
        for tag, value in fields:
            if tag == "269":
                current = [value, None, None]
                # FIX 4.4 W has no MDEntryID: entries are keyed by type (+ position if many)
                key = "=" + value
                if key in entries:
                    key = f"={value}#{len(entries)}"
                entries[key] = current
            elif current is not None:
                if tag == "270":
                    current[1] = _decimal(value)
                elif tag == "271":
                    current[2] = _decimal(value)
            elif tag == "262":
                req_id = value
            elif tag == "55":
                symbol = value
        with self._lock:
            book = self._books.get(symbol)
            if book is None or (req_id and req_id != book.req_id):
                return  # a snapshot of a subscription we dropped
            book.entries = {key: e for key, e in entries.items() if e[0] != TRADE}
            self._waiting.discard(symbol)
            self.messages += 1
            bid, bid_size, ask, ask_size = book.best()
        self.sink.on_quote(symbol, bid, bid_size, ask, ask_size, now)

    def _incremental(self, text: str) -> None:
        now = datetime.now(UTC)
        start = text.find("\x01279=")  # the first entry's MDUpdateAction
        # the message's MDReqID, before the entries (through the SOH that ends them)
        req_id = first_value(text[:start + 1] if start >= 0 else text, "262")
        parsed = _entries(text, start) if start >= 0 else []
        quoted: dict[str, None] = {}
        trades: dict[str, list[tuple[Decimal, Decimal]]] = {}  # symbol -> its prints
        broken: dict[str, str] = {}
        with self._lock:
            self.messages += 1
            req_symbols, books, waiting = self._req_symbols, self._books, self._waiting
            for entry in parsed:
                symbol = entry.get("55") or req_symbols.get(entry.get("262") or req_id, "")
                if symbol in broken:
                    continue
                book = books.get(symbol)
                if book is None or (req_id and req_id != book.req_id):
                    continue  # not (or no longer) ours: an unsubscribe crossing updates
                if symbol in waiting:
                    broken[symbol] = "incremental refresh before its snapshot"
                    continue
                entry_type = entry.get("269")
                if entry_type == TRADE and entry["279"] == NEW:  # a print: the book keeps none
                    px, size = _decimal(entry.get("270")), _decimal(entry.get("271"))
                    if px is not None and size is not None:
                        prints = trades.get(symbol)
                        if prints is None:
                            trades[symbol] = [(px, size)]
                        else:
                            prints.append((px, size))
                    continue
                try:
                    entry_type = _apply(book.entries, entry)
                except _Unapplicable as exc:
                    broken[symbol] = str(exc)
                    continue
                if entry_type != TRADE:
                    quoted[symbol] = None
            quotes = [(symbol, *books[symbol].best())
                      for symbol in quoted if symbol not in broken]
            for symbol, why in broken.items():
                self.resubscribe(symbol, why)
        sink = self.sink
        for symbol, bid, bid_size, ask, ask_size in quotes:
            sink.on_quote(symbol, bid, bid_size, ask, ask_size, now)
        for symbol, prints in trades.items():
            sink.on_trades(symbol, prints, now)

    def _reject(self, fields: dict[str, str]) -> None:
        req_id = fields.get("262", "")
        reason = fields.get("281", "")
        text = fields.get("58", "")
        why = "; ".join(part for part in (REJECT_REASONS.get(reason, reason and
                                                             f"MDReqRejReason {reason}"), text)
                        if part) or "no reason given"
        with self._lock:
            symbol = self._req_symbols.pop(req_id, "")
            if symbol:
                self._waiting.discard(symbol)
                self._books.pop(symbol, None)
                self.rejected[symbol] = why
        what = f"{symbol} (MDReqID {req_id})" if symbol else f"MDReqID {req_id}"
        log.warning("market data %s: request for %s rejected: %s", self.name, what, why)
        self.sink.on_status(self.name, f"request for {what} rejected: {why}")

    def quote(self, symbol: str) -> Quote | None:
        """The symbol's best bid and offer as this feed holds them (None: no snapshot yet)."""
        with self._lock:
            book = self._books.get(symbol)
            if book is None or symbol in self._waiting:
                return None
            return Quote(symbol, *book.best(), ts=datetime.now(UTC))


def _apply(entries: dict[str, list], entry: dict[str, str]) -> str | None:
    """Apply one X entry to a book's entries; its MDEntryType (None for a delete by ID)."""
    action = entry["279"]
    entry_id = entry.get("278")
    entry_type = entry.get("269")
    if action == NEW:
        if entry_type is None:
            raise _Unapplicable("a new entry without MDEntryType")
        if entry_type != TRADE:
            entries[entry_id or "=" + entry_type] = [entry_type, _decimal(entry.get("270")),
                                                      _decimal(entry.get("271"))]
        return entry_type
    if entry_id is not None:
        key = entry_id
    elif entry_type is not None:
        key = "=" + entry_type
    else:
        raise _Unapplicable("an update naming neither MDEntryID nor MDEntryType")
    if action == DELETE:
        if entry_id is None:  # by type: every entry of that side
            gone = [k for k, e in entries.items() if e[0] == entry_type]
            for k in gone:
                del entries[k]
            return entry_type
        if entries.pop(key, None) is None:
            raise _Unapplicable(f"delete of unknown MDEntryID {entry_id}")
        return entry_type or BID  # a side was touched: report the quote
    if action == CHANGE:
        found = entries.get(key)
        if found is None:
            raise _Unapplicable(f"change of unknown entry {entry_id or 'of type ' + str(entry_type)}")
        if "270" in entry:
            found[1] = _decimal(entry["270"])
        if "271" in entry:
            found[2] = _decimal(entry["271"])
        return found[0]  # type: ignore[no-any-return]
    raise _Unapplicable(f"unknown MDUpdateAction {action}")


# price and size texts already read: a feed repeats the same few hundred (prices on the
# tick grid, sizes in lots), and a dict lookup is several times cheaper than a Decimal made
# and checked again; emptied when it reaches _KNOWN_MAX
_known: dict[str, Decimal] = {}
_KNOWN_MAX = 100_000


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    value = _known.get(text)
    if value is not None:
        return value
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    _known[text] = value
    return value


@keeps_thread_state
class MarketDataClient(fix.Application):  # type: ignore[misc]
    """A quickfix Application whose sessions are all market-data feeds (session key ->
    feed): for a process that only reads market data (the broker simulator, benchmarks)."""

    def __init__(self, feeds: dict[str, FixMarketDataFeed]) -> None:
        super().__init__()
        self.feeds = feeds

    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        feed = self.feeds.get(session_id.toString())
        if feed is not None:
            feed.on_logon(session_id)

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        feed = self.feeds.get(session_id.toString())
        if feed is not None:
            feed.on_logout()

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        text = message.toString()
        feed = self.feeds.get(session_id.toString())
        if feed is None or not feed.on_message(first_value(text, "35"), text):
            raise fix.UnsupportedMessageType()
