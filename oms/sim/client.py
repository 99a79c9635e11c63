"""An upstream test client: a QuickFIX FIX 4.4 initiator playing a PMS or strategy engine.

What it does: logs on to the OMS (or straight to a broker simulator), sends NewOrderSingle (D)
at a given rate or with a window of outstanding orders, later cancels (F) or replaces (G) a
chosen share of them once they are acked, and tracks every order through its replace chain by
ClOrdID/OrigClOrdID. It records, in ``time.perf_counter()`` seconds, when each order was sent,
first acked (ExecType 0, or 8 for a reject) and finished (OrdStatus 2, 4, 8 or C), keeps every
ExecutionReport and OrderCancelReject received, and summarises counts, latency percentiles and
per-order final states. For an auditor (tests/fault) each order also keeps its acks and its
fills (ExecID, LastQty, LastPx), and the client counts ExecIDs that came twice without
PossDup/PossResend (``duplicate_exec_ids``) apart from resent ones (``resent_exec_ids``).
A follow-up may be ``replace_cancel``: replace once acked, cancel once the replace is answered. It checks each ExecutionReport as a strict FIX 4.4 client would
(required tags present, CumQty + LeavesQty <= OrderQty, fills adding up to CumQty, no
duplicate ExecIDs) and counts violations as ``protocol_errors`` rather than failing.

What it does not do: no session-level testing (QuickFIX handles the session), no
persistence of orders across restarts, no position keeping; times are local, so latency is
round-trip as seen by this process.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import quickfix as fix
from pydantic import BaseModel, ConfigDict, Field, model_validator

from oms.fix.engine import (
    Engine,
    copy_session_id,
    keeps_thread_state,
    message_from_text,
    split_fields,
)
from oms.percentiles import PERCENTILES, percentiles
from oms.sim.common import (
    TERMINAL_ORD_STATUSES,
    ZERO,
    build_engine,
    fix_decimal,
    run_prefix,
    session_spec,
    stop_engine,
    utc_timestamp,
)

log = logging.getLogger(__name__)

SideName = Literal["buy", "sell", "sell_short"]
_DEFAULT_SIDES: list[SideName] = ["buy", "sell"]
SIDE_CODES: dict[str, str] = {"buy": "1", "sell": "2", "sell_short": "5"}
ORD_STATUS_NAMES: dict[str, str] = {
    "0": "New",
    "1": "PartiallyFilled",
    "2": "Filled",
    "3": "DoneForDay",
    "4": "Canceled",
    "5": "Replaced",
    "6": "PendingCancel",
    "7": "Stopped",
    "8": "Rejected",
    "9": "Suspended",
    "A": "PendingNew",
    "B": "Calculated",
    "C": "Expired",
    "D": "AcceptedForBidding",
    "E": "PendingReplace",
}
ER_REQUIRED_TAGS = (37, 17, 150, 39, 54, 55, 38, 151, 14, 6, 11, 60)
TRADE_REQUIRED_TAGS = (32, 31)
CENT = Decimal("0.01")
MAX_ERROR_SAMPLES = 50


class LogonTimeout(TimeoutError):
    """The client's session did not log on in time."""


class ClientOptions(BaseModel):
    """Everything the upstream client can be told; one field per CLI flag."""

    model_config = ConfigDict(extra="forbid")

    sessions_dir: Path  # the client's FileStore and generated quickfix cfg go here
    host: str = "127.0.0.1"
    port: int = Field(9876, ge=1, le=65535)
    sender_comp_id: str = "CLIENT1"
    target_comp_id: str = "OMS"
    orders: int = Field(100, ge=0)
    rate: float = Field(0.0, ge=0)  # orders per second; 0 = as fast as the window allows
    window: int = Field(100, ge=0)  # orders outstanding at most; 0 = no cap
    symbols: list[str] = Field(default_factory=lambda: ["AAPL", "MSFT", "IBM", "GOOG", "AMZN"])
    sides: list[SideName] = Field(default_factory=lambda: list(_DEFAULT_SIDES))
    limit_ratio: float = Field(0.5, ge=0, le=1)  # share of limit orders; the rest are market
    min_qty: int = Field(100, ge=1)
    max_qty: int = Field(1000, ge=1)
    min_price: Decimal = Decimal("10")
    max_price: Decimal = Decimal("200")
    time_in_force: str = "0"  # TimeInForce (59): 0 Day
    account: str | None = "SIM-ACCT"
    ex_destination: str | None = None
    cancel_ratio: float = Field(0.0, ge=0, le=1)  # share of orders canceled once acked
    replace_ratio: float = Field(0.0, ge=0, le=1)  # share of orders replaced once acked
    # share of orders replaced once acked, then canceled once the replace is answered
    replace_cancel_ratio: float = Field(0.0, ge=0, le=1)
    timeout: float = Field(30.0, gt=0)  # seconds to wait for all orders to be done
    logon_timeout: float = Field(10.0, gt=0)
    reset_on_logon: bool = True
    heartbeat_interval: int = Field(30, ge=1)
    reconnect_interval: int = Field(1, ge=1)
    seed: int | None = None
    verbose: bool = False  # run_client prints one line per message received
    keep_messages: bool = (
        True  # keep every ER/9 received (per order and in order); off: less memory
    )
    file_log: bool = False
    data_dictionary: Path | None = None  # None: fix_config/FIX44.xml

    @model_validator(mode="after")
    def _check_ranges(self) -> ClientOptions:
        if self.min_qty > self.max_qty:
            raise ValueError("min_qty must not exceed max_qty")
        if not ZERO < self.min_price <= self.max_price:
            raise ValueError("need 0 < min_price <= max_price")
        if self.cancel_ratio + self.replace_ratio + self.replace_cancel_ratio > 1:
            raise ValueError(
                "cancel_ratio + replace_ratio + replace_cancel_ratio must not exceed 1")
        if not self.symbols or not self.sides:
            raise ValueError("symbols and sides must not be empty")
        return self


@dataclass(slots=True)
class Received:
    """One ExecutionReport (8) or OrderCancelReject (9) as it arrived."""

    msg_type: str
    received_at: float
    cl_ord_id: str | None
    orig_cl_ord_id: str | None
    order_id: str | None
    exec_id: str | None
    exec_type: str | None
    ord_status: str | None
    order_qty: Decimal | None = None
    cum_qty: Decimal | None = None
    leaves_qty: Decimal | None = None
    avg_px: Decimal | None = None
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    cxl_rej_reason: str | None = None
    text: str | None = None


@dataclass(slots=True, eq=False)
class TrackedOrder:
    """One order the client sent, followed through its cancel/replace chain."""

    cl_ord_id: str  # the first ClOrdID: the order's name in summaries
    current_cl_ord_id: str  # the latest ClOrdID the counterparty accepted
    symbol: str
    side: str
    ord_type: str
    order_qty: Decimal
    price: Decimal | None
    sent_at: float = 0.0
    status: str = "A"  # PendingNew until the first report
    order_id: str | None = None
    cum_qty: Decimal = ZERO
    leaves_qty: Decimal = ZERO
    avg_px: Decimal = ZERO
    fills_qty: Decimal = ZERO  # sum of LastQty seen; must equal CumQty
    acked_at: float | None = None
    filled_at: float | None = None
    done_at: float | None = None
    replaces: int = 0
    follow_up: str | None = None  # cancel, replace or replace_cancel, sent once acked
    cancel_after_replace: bool = False  # replace_cancel: cancel once the replace is answered
    acks: int = 0  # ExecutionReports with ExecType New (0) or Rejected (8)
    fills: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # ExecID, qty, px
    pending: dict[str, str] = field(default_factory=dict)  # request ClOrdID -> cancel|replace
    reports: list[Received] = field(default_factory=list)

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


Fields = dict[str, str]  # a received message's tags, split once (oms.fix.engine)


def _message(msg_type: str, fields: list[tuple[int, str]]) -> fix.Message:
    return message_from_text(msg_type, "\x01".join(f"{tag}={value}" for tag, value in fields))


def _decimal(fields: Fields, tag: str) -> Decimal | None:
    text = fields.get(tag)
    return None if text is None else Decimal(text)


@keeps_thread_state
class UpstreamClient(fix.Application):
    """The client's session, order book and flow; also its quickfix Application."""

    def __init__(
        self, options: ClientOptions, on_message: Callable[[Received], None] | None = None
    ) -> None:
        super().__init__()
        self.options = options
        self.on_message = on_message
        self.received: list[Received] = []
        self.protocol_errors = 0
        self.protocol_error_samples: list[str] = []
        self._rng = random.Random(options.seed)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._orders: dict[str, TrackedOrder] = {}  # first ClOrdID -> order
        self._by_cl_ord_id: dict[str, TrackedOrder] = {}  # every ClOrdID we sent -> order
        self._exec_ids: set[str] = set()
        self.duplicate_exec_ids = 0  # an ExecID seen before, without PossDup/PossResend
        self.resent_exec_ids = 0  # an ExecID seen before, flagged PossDup or PossResend
        self._done = 0
        self._unanswered = 0  # cancel/replace requests without an ER 4/5 or a 9 yet
        self._cancel_rejects = 0
        self._logged_on = threading.Event()
        self._session_id = fix.SessionID("FIX.4.4", options.sender_comp_id, options.target_comp_id)
        prefix = run_prefix()
        self._cl_ord_ids = (f"{prefix}-{n}" for n in itertools.count(1))
        self._engine: Engine | None = None
        self._run_started: float | None = None
        self._run_finished: float | None = None
        self._run_cpu_started = 0.0
        self._run_cpu_s: float | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        options = self.options
        self._engine = build_engine(
            "initiator",
            self,
            Path(options.sessions_dir),
            [session_spec(options.sender_comp_id, options.target_comp_id, options.reset_on_logon)],
            {
                "SocketConnectHost": options.host,
                "SocketConnectPort": str(options.port),
                "ReconnectInterval": str(options.reconnect_interval),
            },
            heartbeat_interval=options.heartbeat_interval,
            file_log=options.file_log,
            data_dictionary=options.data_dictionary,
        )
        self._engine.start()

    def wait_logged_on(self, timeout: float | None = None) -> bool:
        return self._logged_on.wait(self.options.logon_timeout if timeout is None else timeout)

    def is_logged_on(self) -> bool:
        return self._logged_on.is_set()

    def stop(self) -> None:
        """Log out and stop the engine (takes up to a second: QuickFIX's tick)."""
        if self._engine is not None:
            stop_engine(self._engine)
            self._engine = None
        self._logged_on.clear()

    def __enter__(self) -> UpstreamClient:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- quickfix callbacks -------------------------------------------------------------

    def onCreate(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self._session_id = copy_session_id(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self._logged_on.set()

    def onLogout(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self._logged_on.clear()

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        received_at = time.perf_counter()
        fields = split_fields(message.toString())
        msg_type = fields.get("35")
        if msg_type not in ("8", "9"):
            raise fix.UnsupportedMessageType()
        try:
            if msg_type == "8":
                follow_up = self._on_execution_report(fields, received_at)
            else:
                follow_up = self._on_cancel_reject(fields, received_at)
            if follow_up is not None:
                self._send_follow_up(*follow_up)
        except Exception:
            log.exception("upstream client: cannot handle %s", msg_type)
            with self._lock:
                self._protocol_error(f"unhandled {msg_type}: see log")

    # -- sending ------------------------------------------------------------------------

    def send_order(
        self,
        *,
        symbol: str | None = None,
        side: str | None = None,
        qty: Decimal | int | None = None,
        ord_type: str | None = None,
        price: Decimal | None = None,
        follow_up: str | None = None,
    ) -> str:
        """Send a NewOrderSingle; what is not given is drawn from the options. ``side`` is a
        FIX code or a name (buy/sell/sell_short), ``ord_type`` 1 market or 2 limit.
        ``follow_up`` (cancel|replace|replace_cancel) is sent once the order is acked.
        Returns the ClOrdID."""
        options = self.options
        rng = self._rng
        side_code = SIDE_CODES.get(side, side) if side else SIDE_CODES[rng.choice(options.sides)]
        if ord_type is None:
            ord_type = "2" if rng.random() < options.limit_ratio else "1"
        if ord_type in ("2", "4") and price is None:
            price = self._random_price()
        quantity = (
            Decimal(qty)
            if qty is not None
            else Decimal(rng.randint(options.min_qty, options.max_qty))
        )
        cl_ord_id = next(self._cl_ord_ids)
        order = TrackedOrder(
            cl_ord_id=cl_ord_id,
            current_cl_ord_id=cl_ord_id,
            symbol=symbol or rng.choice(options.symbols),
            side=side_code,
            ord_type=ord_type,
            order_qty=quantity,
            price=price,
            follow_up=follow_up,
        )
        msg = self._order_message("D", order, cl_ord_id, quantity, price)
        with self._lock:
            self._orders[cl_ord_id] = order
            self._by_cl_ord_id[cl_ord_id] = order
            order.sent_at = time.perf_counter()
        self._send(msg)
        return cl_ord_id

    def cancel(self, cl_ord_id: str) -> str:
        """Send an OrderCancelRequest for the order any of whose ClOrdIDs is given."""
        with self._lock:
            order = self._by_cl_ord_id[cl_ord_id]
            request_id = self._new_request(order, "cancel")
            fields: list[tuple[int, str]] = [(11, request_id), (41, order.current_cl_ord_id)]
            if order.order_id:
                fields.append((37, order.order_id))
            fields += [(55, order.symbol), (54, order.side),
                       (38, fix_decimal(order.order_qty)), (60, utc_timestamp())]
            if self.options.account:
                fields.append((1, self.options.account))
        self._send(_message("F", fields))
        return request_id

    def replace(
        self, cl_ord_id: str, qty: Decimal | int | None = None, price: Decimal | None = None
    ) -> str:
        """Send an OrderCancelReplaceRequest changing quantity and/or limit price."""
        with self._lock:
            order = self._by_cl_ord_id[cl_ord_id]
            request_id = self._new_request(order, "replace")
            new_qty = Decimal(qty) if qty is not None else order.order_qty
            new_price = price if price is not None else order.price
            fields: list[tuple[int, str]] = [(41, order.current_cl_ord_id)]
            if order.order_id:
                fields.append((37, order.order_id))
            msg = self._order_message("G", order, request_id, new_qty, new_price, fields)
        self._send(msg)
        return request_id

    def status(self, cl_ord_id: str) -> None:
        """Send an OrderStatusRequest for the order's latest ClOrdID."""
        with self._lock:
            order = self._by_cl_ord_id[cl_ord_id]
            fields: list[tuple[int, str]] = [(11, order.current_cl_ord_id)]
            if order.order_id:
                fields.append((37, order.order_id))
            fields += [(55, order.symbol), (54, order.side),
                       (790, f"{order.current_cl_ord_id}-status")]
        self._send(_message("H", fields))

    def _order_message(
        self,
        msg_type: str,
        order: TrackedOrder,
        cl_ord_id: str,
        qty: Decimal,
        price: Decimal | None,
        extra: list[tuple[int, str]] | None = None,
    ) -> fix.Message:
        options = self.options
        fields: list[tuple[int, str]] = [
            (11, cl_ord_id), (55, order.symbol), (54, order.side), (60, utc_timestamp()),
            (38, fix_decimal(qty)), (40, order.ord_type)]
        if price is not None and order.ord_type in ("2", "4"):
            fields.append((44, fix_decimal(price)))
        fields.append((59, options.time_in_force))
        if options.account:
            fields.append((1, options.account))
        if options.ex_destination:
            fields.append((100, options.ex_destination))
        return _message(msg_type, fields + (extra or []))

    def _new_request(self, order: TrackedOrder, kind: str) -> str:
        request_id = next(self._cl_ord_ids)
        order.pending[request_id] = kind
        self._unanswered += 1
        self._by_cl_ord_id[request_id] = order
        return request_id

    def _random_price(self) -> Decimal:
        low, high = self.options.min_price, self.options.max_price
        cents = self._rng.randint(int(low / CENT), int(high / CENT))
        return (Decimal(cents) * CENT).quantize(CENT)

    def _send(self, msg: fix.Message) -> None:
        try:
            sent = fix.Session.sendToTarget(msg, self._session_id)
        except fix.SessionNotFound:
            sent = False
        if not sent:
            log.warning("upstream client: message not sent (engine stopped?)")

    def _send_follow_up(self, kind: str, cl_ord_id: str) -> None:
        if kind == "cancel":
            self.cancel(cl_ord_id)
            return
        with self._lock:
            order = self._by_cl_ord_id[cl_ord_id]
            new_qty = order.order_qty + max(1, int(order.order_qty) // 2)
        self.replace(cl_ord_id, qty=new_qty)

    # -- receiving ----------------------------------------------------------------------

    def _on_execution_report(self, f: Fields, received_at: float) -> tuple[str, str] | None:
        get = f.get
        report = Received(
            msg_type="8",
            received_at=received_at,
            cl_ord_id=get("11"),
            orig_cl_ord_id=get("41"),
            order_id=get("37"),
            exec_id=get("17"),
            exec_type=get("150"),
            ord_status=get("39"),
            order_qty=_decimal(f, "38"),
            cum_qty=_decimal(f, "14"),
            leaves_qty=_decimal(f, "151"),
            avg_px=_decimal(f, "6"),
            last_qty=_decimal(f, "32"),
            last_px=_decimal(f, "31"),
            text=get("58"),
        )
        missing = [tag for tag in ER_REQUIRED_TAGS if str(tag) not in f]
        if report.exec_type == "F":
            missing += [tag for tag in TRADE_REQUIRED_TAGS if str(tag) not in f]
        possible_duplicate = get("43") == "Y" or get("97") == "Y"
        follow_up = None
        with self._lock:
            if self.options.keep_messages:
                self.received.append(report)
            if missing:
                self._protocol_error(f"ER {report.exec_id} lacks tags {missing}")
            if report.exec_id is not None:
                if report.exec_id in self._exec_ids:
                    if possible_duplicate:
                        self.resent_exec_ids += 1
                    else:
                        self.duplicate_exec_ids += 1
                        self._protocol_error(f"duplicate ExecID {report.exec_id}")
                    return None  # a resent report must never count twice
                self._exec_ids.add(report.exec_id)
            order = self._order_for(report)
            if order is None:
                self._protocol_error(f"ER {report.exec_id} for unknown ClOrdID {report.cl_ord_id}")
                return None
            if self.options.keep_messages:
                order.reports.append(report)
            follow_up = self._apply_report(order, report)
        if self.on_message is not None:
            self.on_message(report)
        return follow_up

    def _order_for(self, report: Received) -> TrackedOrder | None:
        for cl_ord_id in (report.cl_ord_id, report.orig_cl_ord_id):
            if cl_ord_id is not None and cl_ord_id in self._by_cl_ord_id:
                return self._by_cl_ord_id[cl_ord_id]
        return None

    def _apply_report(self, order: TrackedOrder, report: Received) -> tuple[str, str] | None:
        """Update the order from one ER; return a follow-up (kind, ClOrdID) to send."""
        exec_type = report.exec_type
        self._check_quantities(order, report)
        if exec_type in ("0", "8"):
            order.acks += 1
            if order.acked_at is None:
                order.acked_at = report.received_at
        if exec_type == "F" and report.last_qty is not None:
            order.fills_qty += report.last_qty
            order.fills.append((report.exec_id or "", report.last_qty, report.last_px or ZERO))
            if report.cum_qty is not None and report.cum_qty != order.fills_qty:
                self._protocol_error(
                    f"{order.cl_ord_id}: CumQty {report.cum_qty} != sum of LastQty {order.fills_qty}"
                )
        answered = None
        if exec_type in ("4", "5") and report.cl_ord_id is not None:
            answered = self._answered(order, report.cl_ord_id)
            order.current_cl_ord_id = report.cl_ord_id
        if exec_type == "5":
            order.replaces += 1
            if report.order_qty is not None:
                order.order_qty = report.order_qty
        if report.order_id is not None:
            order.order_id = report.order_id
        if report.cum_qty is not None:
            order.cum_qty = report.cum_qty
        if report.leaves_qty is not None:
            order.leaves_qty = report.leaves_qty
        if report.avg_px is not None:
            order.avg_px = report.avg_px
        if report.ord_status is not None:
            self._set_status(order, report.ord_status, report.received_at)
        if exec_type == "0" and order.follow_up and not order.is_done:
            kind, order.follow_up = order.follow_up, None
            if kind == "replace_cancel":
                kind, order.cancel_after_replace = "replace", True
            return kind, order.current_cl_ord_id
        if answered == "replace":
            return self._cancel_after_replace(order)
        return None

    def _set_status(self, order: TrackedOrder, status: str, received_at: float) -> None:
        """The order's OrdStatus as the counterparty last gave it; a final one finishes it."""
        order.status = status
        if status in TERMINAL_ORD_STATUSES and order.done_at is None:
            order.done_at = received_at
            if status == "2":
                order.filled_at = received_at
            self._done += 1
            self._changed.notify_all()

    def _cancel_after_replace(self, order: TrackedOrder) -> tuple[str, str] | None:
        """replace_cancel: the replace was answered (replaced or refused); cancel next."""
        if not order.cancel_after_replace:
            return None
        order.cancel_after_replace = False
        if order.is_done:
            return None
        return "cancel", order.current_cl_ord_id

    def _check_quantities(self, order: TrackedOrder, report: Received) -> None:
        order_qty = report.order_qty if report.order_qty is not None else order.order_qty
        cum = report.cum_qty or ZERO
        leaves = report.leaves_qty or ZERO
        if cum + leaves > order_qty:
            self._protocol_error(
                f"ER {report.exec_id}: CumQty {cum} + LeavesQty {leaves} > OrderQty {order_qty}"
            )
        if report.exec_type not in ("H", "G", "I") and cum < order.cum_qty:
            self._protocol_error(f"ER {report.exec_id}: CumQty went down to {cum}")

    def _on_cancel_reject(self, f: Fields, received_at: float) -> tuple[str, str] | None:
        report = Received(
            msg_type="9",
            received_at=received_at,
            cl_ord_id=f.get("11"),
            orig_cl_ord_id=f.get("41"),
            order_id=f.get("37"),
            exec_id=None,
            exec_type=None,
            ord_status=f.get("39"),
            cxl_rej_reason=f.get("102"),
            text=f.get("58"),
        )
        with self._lock:
            if self.options.keep_messages:
                self.received.append(report)
            self._cancel_rejects += 1
            for tag in (37, 11, 41, 39, 434):
                if str(tag) not in f:
                    self._protocol_error(f"OrderCancelReject lacks tag {tag}")
            order = self._order_for(report)
            follow_up = None
            if order is None:
                self._protocol_error(f"OrderCancelReject for unknown ClOrdID {report.cl_ord_id}")
            else:
                if self.options.keep_messages:
                    order.reports.append(report)
                if report.ord_status and report.cxl_rej_reason != "1":
                    # FIX 4.4: OrdStatus on a 9 is the order's status after the reject (a
                    # cancel refused because fills finished the order says Filled, and
                    # no ExecutionReport follows); "unknown order" says Rejected of no order
                    self._set_status(order, report.ord_status, received_at)
                if report.cl_ord_id is not None and \
                        self._answered(order, report.cl_ord_id) == "replace":
                    follow_up = self._cancel_after_replace(order)
            self._changed.notify_all()
        if self.on_message is not None:
            self.on_message(report)
        return follow_up

    def _answered(self, order: TrackedOrder, request_id: str) -> str | None:
        """Mark a cancel/replace request answered; its kind, or None if it was not pending."""
        kind = order.pending.pop(request_id, None)
        if kind is not None:
            self._unanswered -= 1
            self._changed.notify_all()
        return kind

    def _protocol_error(self, description: str) -> None:
        """Count a counterparty's violation of FIX 4.4; call with the lock held."""
        self.protocol_errors += 1
        if len(self.protocol_error_samples) < MAX_ERROR_SAMPLES:
            self.protocol_error_samples.append(description)
        log.debug("upstream client: protocol error: %s", description)

    # -- the configured flow ------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Send the configured orders, wait until all are done or ``timeout``; summarise."""
        options = self.options
        plan = self._follow_up_plan()
        self._run_started = start = time.perf_counter()
        self._run_cpu_started = time.process_time()
        for index in range(options.orders):
            if options.rate > 0:
                delay = start + index / options.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            if options.window and not self._wait_for_window(options.window, options.timeout):
                log.warning("upstream client: window stayed full for %ss", options.timeout)
                break
            self.send_order(follow_up=plan.get(index))
        self.wait_done(options.timeout)
        self._run_finished = time.perf_counter()
        self._run_cpu_s = time.process_time() - self._run_cpu_started
        return self.summary()

    def _follow_up_plan(self) -> dict[int, str]:
        """Which orders get cancelled or replaced once acked: exact shares, random picks."""
        count = self.options.orders
        cancels = round(count * self.options.cancel_ratio)
        replaces = min(round(count * self.options.replace_ratio), count - cancels)
        both = min(round(count * self.options.replace_cancel_ratio), count - cancels - replaces)
        chosen = self._rng.sample(range(count), cancels + replaces + both)
        plan = {index: "cancel" for index in chosen[:cancels]}
        plan.update({index: "replace" for index in chosen[cancels:cancels + replaces]})
        plan.update({index: "replace_cancel" for index in chosen[cancels + replaces:]})
        return plan

    def _wait_for_window(self, window: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._orders) - self._done < window, timeout)

    def wait_done(self, timeout: float) -> bool:
        """Wait until every order sent is done and no cancel/replace is unanswered."""
        with self._changed:
            return self._changed.wait_for(self._all_done, timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` (evaluated under the client's lock) holds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if predicate():
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def _all_done(self) -> bool:
        return self._done == len(self._orders) and not self._unanswered

    # -- results ------------------------------------------------------------------------

    def order(self, cl_ord_id: str) -> TrackedOrder:
        with self._lock:
            return self._by_cl_ord_id[cl_ord_id]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            orders = list(self._orders.values())
            final = [order.status for order in orders if order.is_done]
            ack_latency = [o.acked_at - o.sent_at for o in orders if o.acked_at is not None]
            fill_latency = [o.filled_at - o.sent_at for o in orders if o.filled_at is not None]
            elapsed = None
            if self._run_started is not None:
                elapsed = (self._run_finished or time.perf_counter()) - self._run_started
            return {
                "sent": len(orders),
                "acked": sum(1 for o in orders if o.acked_at is not None and o.status != "8"),
                "rejected": final.count("8"),
                "filled": final.count("2"),
                "canceled": final.count("4"),
                "expired": final.count("C"),
                "replaced": sum(1 for o in orders if o.replaces),
                "cancel_rejects": self._cancel_rejects,
                "done": len(final),
                "outstanding": len(orders) - len(final),
                "protocol_errors": self.protocol_errors,
                "protocol_error_samples": list(self.protocol_error_samples),
                "elapsed_s": None if elapsed is None else round(elapsed, 3),
                # this process's CPU (every thread) from the first send to the last order
                # done: the load the client itself puts on the machine (#3)
                "run_cpu_s": None if self._run_cpu_s is None else round(self._run_cpu_s, 3),
                "orders_per_s": round(len(orders) / elapsed, 1) if elapsed else None,
                "latency_ms": {
                    "ack": percentiles(ack_latency, scale=1000, digits=3),
                    "fill": percentiles(fill_latency, scale=1000, digits=3),
                },
                "orders": {o.cl_ord_id: _final_state(o) for o in orders},
            }


    def record(self) -> dict[str, dict[str, Any]]:
        """Every order as an auditor wants it, by its first ClOrdID: every ClOrdID sent
        for it, OrderID, OrdStatus, OrderQty, CumQty, the sum of LastQty, the fills (ExecID,
        LastQty, LastPx), acks (ExecType 0 or 8), messages received and the cancel/replace
        requests still unanswered. Plain data, taken under the lock."""
        with self._lock:
            chains: dict[str, list[str]] = {}
            for cl_ord_id, order in self._by_cl_ord_id.items():
                chains.setdefault(order.cl_ord_id, []).append(cl_ord_id)
            return {
                order.cl_ord_id: {
                    "cl_ord_ids": chains.get(order.cl_ord_id, [order.cl_ord_id]),
                    "current_cl_ord_id": order.current_cl_ord_id,
                    "order_id": order.order_id,
                    "status": order.status,
                    "order_qty": order.order_qty,
                    "cum_qty": order.cum_qty,
                    "fills_qty": order.fills_qty,
                    "fills": list(order.fills),
                    "acks": order.acks,
                    "received": len(order.reports),
                    "unanswered": dict(order.pending),
                    "reports": [
                        (r.msg_type, r.exec_type, r.ord_status, r.cl_ord_id, r.cum_qty,
                         r.exec_id) for r in order.reports],
                }
                for order in self._orders.values()
            }


def _final_state(order: TrackedOrder) -> dict[str, Any]:
    return {
        "status": ORD_STATUS_NAMES.get(order.status, order.status),
        "ord_status": order.status,
        "cl_ord_id": order.current_cl_ord_id,
        "order_id": order.order_id,
        "order_qty": order.order_qty,
        "cum_qty": order.cum_qty,
        "leaves_qty": order.leaves_qty,
        "avg_px": order.avg_px,
    }


def run_client(options: ClientOptions, console: Any = None) -> dict[str, Any]:
    """Log on, run the configured flow, print what came back; return the summary.

    Raises LogonTimeout when the session does not log on within ``logon_timeout``.
    """
    from rich.console import Console

    console = console or Console()
    on_message = _message_printer(console) if options.verbose else None
    client = UpstreamClient(options, on_message=on_message)
    client.start()
    try:
        if not client.wait_logged_on(options.logon_timeout):
            raise LogonTimeout(
                f"{options.sender_comp_id}->{options.target_comp_id} did not log on to "
                f"{options.host}:{options.port} within {options.logon_timeout}s"
            )
        summary = client.run()
    finally:
        client.stop()
    print_summary(summary, console)
    return summary


def _message_printer(console: Any) -> Callable[[Received], None]:
    def print_line(report: Received) -> None:
        if report.msg_type == "9":
            console.print(
                f"[yellow]9 CancelReject[/] ClOrdID={report.cl_ord_id} "
                f"OrigClOrdID={report.orig_cl_ord_id} reason={report.cxl_rej_reason} "
                f"{report.text or ''}",
                highlight=False,
            )
            return
        trade = f" {report.last_qty}@{report.last_px}" if report.exec_type == "F" else ""
        console.print(
            f"8 ExecType={report.exec_type} OrdStatus="
            f"{ORD_STATUS_NAMES.get(report.ord_status or '', report.ord_status)} "
            f"ClOrdID={report.cl_ord_id} Cum={report.cum_qty} Leaves={report.leaves_qty}"
            f"{trade} {report.text or ''}",
            highlight=False,
        )

    return print_line


def print_summary(summary: dict[str, Any], console: Any) -> None:
    """Two rich tables: final status counts and latency percentiles."""
    from rich.table import Table

    counts = Table(title="Orders")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for key in (
        "sent",
        "acked",
        "filled",
        "canceled",
        "rejected",
        "expired",
        "replaced",
        "cancel_rejects",
        "outstanding",
        "protocol_errors",
    ):
        counts.add_row(key, str(summary[key]))
    console.print(counts)
    latency = Table(title="Latency (ms, from send)")
    latency.add_column("to")
    columns = ["count"] + [name for name, _ in PERCENTILES]
    for column in columns:
        latency.add_column(column, justify="right")
    for name, figures in summary["latency_ms"].items():
        latency.add_row(name, *(str(figures.get(column, "-")) for column in columns))
    console.print(latency)
    if summary["elapsed_s"] is not None:
        console.print(
            f"{summary['sent']} orders in {summary['elapsed_s']}s "
            f"({summary['orders_per_s']} orders/s)"
        )
    for sample in summary["protocol_error_samples"][:10]:
        console.print(f"[red]protocol error:[/] {sample}", highlight=False)
