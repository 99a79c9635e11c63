"""The quickfix Application of the OMS: translate, enqueue, return.

Upstream sessions (our acceptor) may send NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest and OrderStatusRequest; broker sessions (our initiators) send
ExecutionReport and OrderCancelReject; drop-copy sessions (either side, #19) send
ExecutionReport only, and nothing is ever sent on them but the session's own messages. Any other application message is answered by the
engine with a BusinessMessageReject (we raise ``UnsupportedMessageType``). Session-level
validation (required tags, formats, enums) is the engine's, against the FIX 4.4 dictionary.

No business decision is taken here: every message becomes one command on the core's queue.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import quickfix as fix

from oms.app import commands as cmd
from oms.app.ports import OutMessage
from oms.fix.engine import (
    STOP_REASON,
    copy_session_id,
    first_value,
    keeps_thread_state,
    refill_message,
)
from oms.fix.engine import split_fields as _split
from oms.fix.marketdata import FixMarketDataFeed

log = logging.getLogger(__name__)

UPSTREAM = "upstream"
BROKER = "broker"
DROP_COPY = "drop_copy"  # #19: a broker's drop copy; receives ExecutionReports, sends none
# #20: a market-data feed; its messages go to its feed (oms/fix/marketdata.py) on this
# thread, never to the core: quotes come at rates orders never do
MARKET_DATA = "market_data"
COUNTERPARTY_LOGOUT = "the counterparty logged out"  # the cause of a logout they began


@keeps_thread_state
class OmsApplication(fix.Application):  # type: ignore[misc]
    """One Application for the acceptor and the initiator; roles come from the config."""

    def __init__(self, roles: dict[str, str], submit: Callable[[cmd.Command], None]) -> None:
        super().__init__()
        self.roles = roles  # session key -> UPSTREAM | BROKER | DROP_COPY
        self.submit = submit
        # #19: no application message ever leaves on these (``send`` refuses it)
        self.receive_only = frozenset(key for key, role in roles.items() if role == DROP_COPY)
        self.session_ids: dict[str, fix.SessionID] = {}
        self.logged_on: set[str] = set()
        self._sent: dict[tuple[str, int], tuple[str, str]] = {}  # (session, seq) -> (type, 11)
        self._sending = _Sending()  # the message this thread's sendToTarget is sending
        self._lock = threading.Lock()
        # sessions whose counterparty's Logon carried ResetSeqNumFlag (141=Y): fromAdmin sees
        # the Logon, onLogon (right after it, same thread) says so to the core (#16)
        self._reset_logons: set[str] = set()
        # #18: session -> why it is logging out (the first Logout's Text), for onLogout
        self._logout_causes: dict[str, str] = {}
        # #19: sessions we sent a TestRequest on, until the counterparty speaks again
        self.unanswered: set[str] = set()
        self.test_requests_sent: dict[str, int] = {}  # session -> TestRequests we sent
        # #19: session -> the MsgSeqNum its engine expected when a Logout numbered above it
        # came (see ``_logout_out_of_order``)
        self._skipped_by_logout: dict[str, int] = {}
        # #19: sessions an operator asked to restart sequence numbers on, at their next
        # logon -> their configured ResetOnLogon, put back after it
        self._resetting: dict[str, bool] = {}
        # OMS-internal latency: upstream NewOrderSingle received -> child order sent; the
        # count of every sample taken, so a reader (oms.metrics) can tell the new ones from
        # those it saw, whatever the deque dropped or a reset cleared
        self.internal_latency_ns: deque[int] = deque(maxlen=1_000_000)
        self.internal_latency_count = 0
        # for ``oms sessions``: when each session last received a message (time.time()),
        # and the last error a counterparty told us of (a Reject, or a Logout's Text)
        self.last_received: dict[str, float] = {}
        self.last_error: dict[str, str] = {}
        # #20: market-data session key -> its feed; the feeds that subscribe every symbol
        # an order names, and the symbols seen so far (a set check per NewOrderSingle)
        self.market_data: dict[str, FixMarketDataFeed] = {}
        self.symbol_feeds: list[FixMarketDataFeed] = []
        self.symbols_seen: set[str] = set()

    def add_market_data(self, key: str, feed: FixMarketDataFeed, every_symbol: bool) -> None:
        """#20: hand the market-data session ``key`` to ``feed``; ``every_symbol``: it
        subscribes each symbol an order names, as it first names it."""
        self.market_data[key] = feed
        if every_symbol:
            self.symbol_feeds.append(feed)
            feed.subscribe(sorted(self.symbols_seen))

    def saw_symbols(self, symbols: list[str]) -> None:
        """Symbols known before any order comes (the open orders reloaded at start)."""
        for symbol in symbols:
            if symbol and symbol not in self.symbols_seen:
                self.symbols_seen.add(symbol)
                for feed in self.symbol_feeds:
                    feed.subscribe([symbol])

    # --- session callbacks ---------------------------------------------------------------
    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802 (quickfix names)
        self.session_ids[session_id.toString()] = copy_session_id(session_id)

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        feed = self.market_data.get(key)
        if feed is not None:  # #20: nothing for the core; the feed subscribes
            with self._lock:
                self.logged_on.add(key)
            log.info("FIX session %s logged on (market data)", key)
            feed.on_logon(session_id)
            return
        with self._lock:
            self.logged_on.add(key)
            reset = key in self._reset_logons
            self._reset_logons.discard(key)
            configured = self._resetting.pop(key, None)
        if configured is not None:
            session = fix.Session.lookupSession(session_id)
            if session is not None:
                session.setResetOnLogon(configured)
            reset = True
        log.info("FIX session %s logged on%s", key, " (sequence numbers reset)" if reset else "")
        self.submit(cmd.SessionLoggedOn(key, reset=reset))

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        feed = self.market_data.get(key)
        if feed is not None:
            with self._lock:
                was_logged_on = key in self.logged_on
                self.logged_on.discard(key)
                self.unanswered.discard(key)
                cause = self._logout_causes.pop(key, "")
            feed.on_logout()
            if was_logged_on:
                log.warning("FIX session %s (market data) logged out: %s", key,
                            cause or "connection lost without a Logout", extra={"session": key})
            return
        with self._lock:
            was_logged_on = key in self.logged_on
            self.logged_on.discard(key)
            self.unanswered.discard(key)
            cause = self._logout_causes.pop(key, "")
            expected = self._skipped_by_logout.pop(key, None)
        if expected is not None:
            session = fix.Session.lookupSession(session_id)
            if session is not None and session.getExpectedTargetNum() > expected:
                session.setNextTargetMsgSeqNum(expected)
                log.warning("FIX session %s: a Logout came numbered above MsgSeqNum %d; "
                            "the next logon asks again from %d", key, expected, expected,
                            extra={"session": key})
        # #18: once per logout after a logon, with its cause. QuickFIX also calls this after
        # each failed reconnect; those are the connect watch's to explain (oms/fix/watch.py)
        if not was_logged_on:
            log.debug("FIX session %s: not logged on (%s)", key, cause or "no connection")
        elif cause == f"we logged out: {STOP_REASON}" or (
                self.roles.get(key) == UPSTREAM and cause.startswith(COUNTERPARTY_LOGOUT)):
            # our own stop, or a client ending its day: nothing for an operator to act on; a
            # broker that logs us out takes our route away
            log.info("FIX session %s logged out: %s", key, cause, extra={"session": key})
        else:
            log.warning("FIX session %s logged out: %s", key,
                        cause or "connection lost without a Logout", extra={"session": key})
        self.submit(cmd.SessionLoggedOut(key))

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        msg_type = message.getHeader().getField(35)
        if msg_type == "5":  # our Logout: its Text is the cause of the logout
            self._note_logout(session_id.toString(), "we logged out", message)
        elif msg_type == "1":
            # #19: QuickFIX asks a silent counterparty whether it is there: until it
            # answers, the session takes no new orders
            key = session_id.toString()
            with self._lock:
                first = key not in self.unanswered
                self.unanswered.add(key)
                self.test_requests_sent[key] = self.test_requests_sent.get(key, 0) + 1
            if first:
                log.warning("FIX session %s: no message for a heartbeat interval, sent a "
                            "TestRequest", key, extra={"session": key})
                self.submit(cmd.SessionUnanswered(key))

    def _logout_out_of_order(self, session_id: fix.SessionID, seq_num: int) -> None:
        """#19: QuickFIX takes a Logout numbered above the MsgSeqNum it expects (a broker
        refusing our Logon while it has messages for us, sent while we were away) without
        asking for the gap, and counts it as the one expected: the messages between would
        never be asked for again, fills among them lost. Note what it expected; onLogout
        puts it back, so the next logon's resend request starts there."""
        session = fix.Session.lookupSession(session_id)
        if session is None:
            return
        expected = session.getExpectedTargetNum()
        if seq_num > expected:
            with self._lock:
                self._skipped_by_logout.setdefault(session_id.toString(), expected)

    def _heard_from(self, key: str) -> None:
        """The counterparty of a session we sent a TestRequest spoke again."""
        with self._lock:
            if key not in self.unanswered:
                return
            self.unanswered.discard(key)
        log.info("FIX session %s answers again", key, extra={"session": key})
        self.submit(cmd.SessionAnswered(key))

    def _note_logout(self, key: str, who: str, message: fix.Message) -> None:
        text = message.getField(58) if message.isSetField(58) else ""
        with self._lock:
            # the first Logout of an exchange says why; the answer to it does not
            self._logout_causes.setdefault(key, f"{who}: {text}" if text else who)

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        header = message.getHeader()
        msg_type = header.getField(35)
        self.last_received[session_id.toString()] = time.time()
        if self.unanswered:
            self._heard_from(session_id.toString())
        if msg_type in ("3", "5") and message.isSetField(58):
            # a counterparty's reason for a Reject or a Logout ("MsgSeqNum too low") is the
            # error an operator looks for first
            self.last_error[session_id.toString()] = \
                f"{'Reject' if msg_type == '3' else 'Logout'}: {message.getField(58)}"
        if msg_type == "5":
            self._note_logout(session_id.toString(), COUNTERPARTY_LOGOUT, message)
            if header.isSetField(34):
                self._logout_out_of_order(session_id, int(header.getField(34)))
            return
        if msg_type == "A":
            # #16: a Logon with ResetSeqNumFlag (141=Y) restarts sequence numbers: nothing
            # the counterparty sent before it can be resent. The engine calls onLogon next.
            if message.isSetField(141) and message.getField(141) == "Y":
                with self._lock:
                    self._reset_logons.add(session_id.toString())
            return
        if msg_type != "3":
            return
        key = session_id.toString()
        if self.roles.get(key) != BROKER:
            return
        # a broker refused one of our orders at the session level: find which one
        text = message.toString()
        f = _split(text)
        ref = self._sent.get((key, int(f.get("45") or 0)))
        if ref is not None:
            self.submit(cmd.ApplyBrokerMessageReject(
                session=key, seq_num=0, raw=_journal(text), cl_ord_id=ref[1],
                ref_msg_type=ref[0], text=f.get("58", "")))

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        # Runs inside sendToTarget, after the engine numbered the message and before it is
        # written: remember which ClOrdID goes to a broker under which MsgSeqNum, so that a
        # Reject (3) or BusinessMessageReject (j) quoting RefSeqNum finds its order. #3:
        # ``send`` says which messages to track; every other message costs no call into
        # the bindings here (each one handed the GIL to another thread and waited for it).
        out = self._sending.out
        if out is None:
            return
        cl_ord_id = out.cl_ord_id
        if cl_ord_id:
            sent = self._sent
            sent[(out.session, int(message.getHeader().getField(34)))] = (out.msg_type,
                                                                         cl_ord_id)
            if len(sent) > _TRACKED_MAX:
                del sent[next(iter(sent))]

    def _market_data_message(self, text: str) -> bool:
        """#20: a W, X or Y of a market-data session goes to its feed, found from the
        header's CompIDs alone: quotes come thousands a second, so no full split of the
        message and nothing for the core. False: not one of those."""
        msg_type = first_value(text, "35")
        if msg_type not in _MARKET_DATA_TYPES:
            return False
        key = (f"{text[2:text.find(chr(1))]}:{first_value(text, '56')}->"
               f"{first_value(text, '49')}")
        feed = self.market_data.get(key)
        if feed is None:
            return False
        self.last_received[key] = time.time()
        if self.unanswered:
            self._heard_from(key)
        return feed.on_message(msg_type, text)

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        # one call into the bindings, then plain Python: each call (a getField, the
        # session's toString) handed the GIL to another thread and waited to get it back.
        # The engine has checked that 49/56 name this session, so they give its key.
        text = message.toString()
        if self.market_data and self._market_data_message(text):
            return
        fields = _split(text)
        key = f"{fields.get('8')}:{fields.get('56')}->{fields.get('49')}"
        self.last_received[key] = time.time()
        if self.unanswered:
            self._heard_from(key)
        msg_type = fields.get("35", "")
        role = self.roles.get(key)
        if role == UPSTREAM:
            translate = _UPSTREAM.get(msg_type)
            if msg_type == "D" and self.symbol_feeds:
                symbol = fields.get("55")
                if symbol and symbol not in self.symbols_seen:
                    self.saw_symbols([symbol])
        elif role == MARKET_DATA:  # not a W, X or Y (those went to the feed)
            translate = None
        elif role == BROKER:
            if msg_type == "j":
                self.submit(self._business_reject(key, fields, text))
                return
            translate = _BROKER.get(msg_type)
        elif role == DROP_COPY:
            translate = _DROP_COPY.get(msg_type)
        else:
            translate = None
        if translate is None:
            raise fix.UnsupportedMessageType()
        self.submit(translate(key, fields, text))

    def _business_reject(self, key: str, f: dict[str, str], text: str
                         ) -> cmd.ApplyBrokerMessageReject:
        ref = self._sent.get((key, int(f.get("45") or 0)))
        ref_msg_type, cl_ord_id = ref if ref else (f.get("372", ""), f.get("379", ""))
        return cmd.ApplyBrokerMessageReject(
            session=key, seq_num=int(f["34"]), raw=_journal(text), cl_ord_id=cl_ord_id,
            ref_msg_type=ref_msg_type,
            text=f.get("58") or f"BusinessRejectReason {f.get('380', '')}")

    def reset_at_next_logon(self, key: str, session: fix.Session) -> None:
        """#19, an operator's sequence reset: log the session out, and have its next
        Logon carry ResetSeqNumFlag (141=Y), both sides starting again at 1; for an
        initiator that logon follows at once, for an acceptor when the client logs on."""
        with self._lock:
            self._resetting.setdefault(key, bool(session.getResetOnLogon()))
        session.setResetOnLogon(True)
        session.logout("sequence numbers reset by the operator")

        def log_on_again() -> None:
            # logout() also keeps the session from logging on: once the Logout is through
            # (or 10 s have passed), let it, the reset being the point
            deadline = time.monotonic() + 10
            while session.isLoggedOn() and time.monotonic() < deadline:
                time.sleep(0.05)
            session.logon()

        threading.Thread(target=log_on_again, name="oms-reset-seq", daemon=True).start()

    # --- the Sender port ------------------------------------------------------------------
    def is_logged_on(self, session: str) -> bool:
        return session in self.logged_on

    def sequence_numbers(self, session: str) -> tuple[int, int] | None:
        """(next MsgSeqNum we send, next we expect) of a session, as its store has them; None
        for a session the engine does not know."""
        session_id = self.session_ids.get(session)
        found = fix.Session.lookupSession(session_id) if session_id is not None else None
        if found is None:
            return None
        return found.getExpectedSenderNum(), found.getExpectedTargetNum()

    def send(self, messages: list[OutMessage]) -> None:
        session_ids = self.session_ids
        latency = self.internal_latency_ns
        roles = self.roles
        sending = self._sending
        message = sending.message
        if message is None:
            message = sending.message = fix.Message()
        receive_only = self.receive_only
        for out in messages:
            if out.session == cmd.OPERATOR_SESSION:
                continue  # #21: the operator's orders are answered through the journal only
            if receive_only and out.session in receive_only:
                # #19: a drop copy takes no orders, whatever asked for one; the router
                # never names it, so this is a bug elsewhere: said, never sent
                log.error("refused to send %s on drop-copy session %s: a drop copy only "
                          "receives", out.msg_type, out.session, extra={"session": out.session})
                self.last_error[out.session] = f"refused to send {out.msg_type}: drop copy"
                continue
            refill_message(message, out.msg_type, out.body())
            session_id = session_ids.get(out.session)
            try:
                if session_id is None:
                    raise fix.SessionNotFound(out.session)
                sending.out = out if out.msg_type in _TRACKED and \
                    roles.get(out.session) == BROKER else None
                fix.Session.sendToTarget(message, session_id)
                if out.received_ns:
                    latency.append(time.perf_counter_ns() - out.received_ns)
                    self.internal_latency_count += 1
            except fix.SessionNotFound:
                log.error("cannot send %s: no FIX session %s", out.msg_type, out.session)
                self.last_error[out.session] = f"cannot send {out.msg_type}: no such session"
            finally:
                sending.out = None


# --- translation helpers: from the message's text, split once ---------------------------
def _journal(text: str) -> str:
    """A message's text as the journal keeps it: fields split by "|", passwords masked."""
    if "\x01554=" in text or "\x01925=" in text:
        text = _PASSWORDS.sub(r"\1***", text)
    return text.replace("\x01", "|")


# #18: Password (554) and NewPassword (925) never reach the journal or a log
_PASSWORDS = re.compile("(\x01(?:554|925)=)[^\x01]*")


def _decimal(f: dict[str, str], tag: str, errors: list[str]) -> Decimal | None:
    text = f.get(tag)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.append(f"tag {tag} value {text!r} is not a number")
        return None
    if not value.is_finite():
        errors.append(f"tag {tag} value {text!r} is not a finite number")
        return None
    return value


def _new_order(key: str, f: dict[str, str], text: str) -> cmd.SubmitOrder:
    errors: list[str] = []
    order_qty = _decimal(f, "38", errors)
    price = _decimal(f, "44", errors)
    stop_px = _decimal(f, "99", errors)
    get = f.get
    return cmd.SubmitOrder(
        session=key, seq_num=int(f["34"]), raw=_journal(text),
        cl_ord_id=f["11"], symbol=get("55", ""), side=get("54", ""),
        ord_type=get("40", ""), order_qty=order_qty, price=price, stop_px=stop_px,
        time_in_force=get("59", ""), account=get("1", ""), ex_destination=get("100", ""),
        poss_resend=get("97") == "Y", poss_dup=get("43") == "Y",
        error="; ".join(errors), received_ns=time.perf_counter_ns())


def _cancel(key: str, f: dict[str, str], text: str) -> cmd.CancelOrder:
    get = f.get
    return cmd.CancelOrder(
        session=key, seq_num=int(f["34"]), raw=_journal(text), cl_ord_id=f["11"],
        orig_cl_ord_id=get("41", ""), order_id=get("37", ""), symbol=get("55", ""),
        side=get("54", ""))


def _replace(key: str, f: dict[str, str], text: str) -> cmd.ReplaceOrder:
    errors: list[str] = []
    order_qty = _decimal(f, "38", errors)
    price = _decimal(f, "44", errors)
    stop_px = _decimal(f, "99", errors)
    get = f.get
    return cmd.ReplaceOrder(
        session=key, seq_num=int(f["34"]), raw=_journal(text), cl_ord_id=f["11"],
        orig_cl_ord_id=get("41", ""), order_id=get("37", ""), symbol=get("55", ""),
        side=get("54", ""), ord_type=get("40", ""), order_qty=order_qty, price=price,
        stop_px=stop_px, time_in_force=get("59", ""), error="; ".join(errors))


def _status(key: str, f: dict[str, str], text: str) -> cmd.QueryOrderStatus:
    get = f.get
    return cmd.QueryOrderStatus(
        session=key, seq_num=int(f["34"]), raw=_journal(text), cl_ord_id=get("11", ""),
        order_id=get("37", ""), symbol=get("55", ""), side=get("54", ""),
        ord_status_req_id=get("790", ""))


def _execution_report(key: str, f: dict[str, str], text: str) -> cmd.ApplyBrokerReport:
    errors: list[str] = []
    get = f.get
    return cmd.ApplyBrokerReport(
        session=key, seq_num=int(f["34"]), raw=_journal(text), cl_ord_id=get("11", ""),
        orig_cl_ord_id=get("41", ""), broker_order_id=get("37", ""), exec_id=f["17"],
        exec_type=f["150"], ord_status=f["39"],
        last_qty=_decimal(f, "32", errors), last_px=_decimal(f, "31", errors),
        order_qty=_decimal(f, "38", errors), cum_qty=_decimal(f, "14", errors),
        avg_px=_decimal(f, "6", errors),
        exec_ref_id=get("19", ""), ord_rej_reason=get("103", ""),
        text="; ".join([get("58", ""), *errors]).strip("; "),
        poss_dup=get("43") == "Y", exec_restatement_reason=get("378", ""),
        commission=_decimal(f, "12", errors), comm_type=get("13", ""))


def _utc_timestamp(f: dict[str, str], tag: str, errors: list[str]) -> datetime | None:
    """A UTCTimestamp field (``YYYYMMDD-HH:MM:SS[.sss...]``) as an aware datetime."""
    text = f.get(tag)
    if not text:
        return None
    try:
        whole, _, fraction = text.partition(".")
        value = datetime.strptime(whole, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        if fraction:
            value = value.replace(microsecond=int(fraction[:6].ljust(6, "0")))
        return value
    except ValueError:
        errors.append(f"tag {tag} value {text!r} is not a UTCTimestamp")
        return None


def _drop_copy(key: str, f: dict[str, str], text: str) -> cmd.ApplyDropCopy:
    errors: list[str] = []
    get = f.get
    return cmd.ApplyDropCopy(
        session=key, seq_num=int(f["34"]), raw=_journal(text), exec_id=f["17"],
        exec_type=f["150"], ord_status=f["39"], cl_ord_id=get("11", ""),
        broker_order_id=get("37", ""), account=get("1", ""), symbol=get("55", ""),
        side=get("54", ""), last_qty=_decimal(f, "32", errors),
        last_px=_decimal(f, "31", errors), transact_time=_utc_timestamp(f, "60", errors),
        copy=get("797") == "Y", poss_dup=get("43") == "Y", error="; ".join(errors))


def _cancel_reject(key: str, f: dict[str, str], text: str) -> cmd.ApplyBrokerCancelReject:
    get = f.get
    return cmd.ApplyBrokerCancelReject(
        session=key, seq_num=int(f["34"]), raw=_journal(text), cl_ord_id=f["11"],
        orig_cl_ord_id=get("41", ""), broker_order_id=get("37", ""), ord_status=get("39", ""),
        response_to=get("434", ""), reason=get("102", ""), text=get("58", ""))


class _Sending(threading.local):
    """Per thread: the broker message being sent whose MsgSeqNum toApp records, and the
    QuickFIX ``Message`` each of the thread's sends fills anew (``refill_message``)."""

    out: OutMessage | None = None
    message: fix.Message | None = None


_TRACKED = frozenset({"D", "F", "G"})
_TRACKED_MAX = 200_000
Translator = Callable[[str, dict[str, str], str], cmd.Command]
_UPSTREAM: dict[str, Translator] = {"D": _new_order, "F": _cancel, "G": _replace, "H": _status}
_BROKER: dict[str, Translator] = {"8": _execution_report, "9": _cancel_reject}
_DROP_COPY: dict[str, Translator] = {"8": _drop_copy}
_MARKET_DATA_TYPES = frozenset({"W", "X", "Y"})
