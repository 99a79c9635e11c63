"""The quickfix Application of the OMS: translate, enqueue, return.

Upstream sessions (our acceptor) may send NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest and OrderStatusRequest; broker sessions (our initiators) send
ExecutionReport and OrderCancelReject. Any other application message is answered by the
engine with a BusinessMessageReject (we raise ``UnsupportedMessageType``). Session-level
validation (required tags, formats, enums) is the engine's, against the FIX 4.4 dictionary.

No business decision is taken here: every message becomes one command on the core's queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import quickfix as fix

from oms.app import commands as cmd
from oms.app.ports import OutMessage

log = logging.getLogger(__name__)

UPSTREAM = "upstream"
BROKER = "broker"


class OmsApplication(fix.Application):  # type: ignore[misc]
    """One Application for the acceptor and the initiator; roles come from the config."""

    def __init__(self, roles: dict[str, str], submit: Callable[[object], None]) -> None:
        super().__init__()
        self.roles = roles  # session key -> UPSTREAM | BROKER
        self.submit = submit
        self.session_ids: dict[str, fix.SessionID] = {}
        self.logged_on: set[str] = set()
        self._sent: dict[tuple[str, int], tuple[str, str]] = {}  # (session, seq) -> (type, 11)
        self._lock = threading.Lock()
        # OMS-internal latency: upstream NewOrderSingle received -> child order sent
        self.internal_latency_ns: deque[int] = deque(maxlen=1_000_000)

    # --- session callbacks ---------------------------------------------------------------
    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802 (quickfix names)
        # keep a copy: the SessionID quickfix passes in does not outlive the callback
        self.session_ids[session_id.toString()] = fix.SessionID(
            session_id.getBeginString().getValue(),
            session_id.getSenderCompID().getValue(),
            session_id.getTargetCompID().getValue(),
        )

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        with self._lock:
            self.logged_on.add(key)
        log.info("FIX session %s logged on", key)
        self.submit(cmd.SessionLoggedOn(key))

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        with self._lock:
            self.logged_on.discard(key)
        log.info("FIX session %s logged out", key)
        self.submit(cmd.SessionLoggedOut(key))

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        header = message.getHeader()
        if header.getField(35) != "3":
            return
        key = session_id.toString()
        if self.roles.get(key) != BROKER:
            return
        # a broker refused one of our orders at the session level: find which one
        ref = self._sent.get((key, int(_get(message, 45) or 0)))
        if ref is not None:
            self.submit(cmd.ApplyBrokerMessageReject(
                session=key, seq_num=0, raw=_raw(message), cl_ord_id=ref[1],
                ref_msg_type=ref[0], text=_get(message, 58)))

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        if self.roles.get(key) == BROKER:
            # remember which ClOrdID went out under which MsgSeqNum, so that a Reject (3)
            # or BusinessMessageReject (j) quoting RefSeqNum can be tied to its order
            header = message.getHeader()
            msg_type = header.getField(35)
            if msg_type in _TRACKED and message.isSetField(11):
                sent = self._sent
                sent[(key, int(header.getField(34)))] = (msg_type, message.getField(11))
                if len(sent) > _TRACKED_MAX:
                    del sent[next(iter(sent))]

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        header = message.getHeader()
        msg_type = header.getField(35)
        role = self.roles.get(key)
        if role == UPSTREAM:
            translate = _UPSTREAM.get(msg_type)
        elif role == BROKER:
            translate = _BROKER.get(msg_type)
        else:
            translate = None
        if role == BROKER and msg_type == "j":
            self.submit(self._business_reject(key, message, header))
            return
        if translate is None:
            raise fix.UnsupportedMessageType()
        self.submit(translate(key, message, header))

    def _business_reject(self, key: str, m: fix.Message, header: fix.FieldMap
                         ) -> cmd.ApplyBrokerMessageReject:
        ref = self._sent.get((key, int(_get(m, 45) or 0)))
        ref_msg_type, cl_ord_id = ref if ref else (_get(m, 372), _get(m, 379))
        return cmd.ApplyBrokerMessageReject(
            session=key, seq_num=_seq(header), raw=_raw(m), cl_ord_id=cl_ord_id,
            ref_msg_type=ref_msg_type, text=_get(m, 58) or f"BusinessRejectReason {_get(m, 380)}")

    # --- the Sender port ------------------------------------------------------------------
    def is_logged_on(self, session: str) -> bool:
        return session in self.logged_on

    def send(self, messages: list[OutMessage]) -> None:
        session_ids = self.session_ids
        for out in messages:
            message = fix.Message()
            message.getHeader().setField(35, out.msg_type)
            for tag, value in out.fields:
                message.setField(tag, value)
            session_id = session_ids.get(out.session)
            try:
                if session_id is None:
                    raise fix.SessionNotFound(out.session)
                fix.Session.sendToTarget(message, session_id)
                if out.received_ns:
                    self.internal_latency_ns.append(time.perf_counter_ns() - out.received_ns)
            except fix.SessionNotFound:
                log.error("cannot send %s: no FIX session %s", out.msg_type, out.session)


# --- translation helpers ------------------------------------------------------------------
def _get(message: fix.FieldMap, tag: int) -> str:
    return message.getField(tag) if message.isSetField(tag) else ""


def _decimal(message: fix.FieldMap, tag: int, errors: list[str]) -> Decimal | None:
    if not message.isSetField(tag):
        return None
    text = message.getField(tag)
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.append(f"tag {tag} value {text!r} is not a number")
        return None
    if not value.is_finite():
        errors.append(f"tag {tag} value {text!r} is not a finite number")
        return None
    return value


def _raw(message: fix.Message) -> str:
    return message.toString().replace("\x01", "|")


def _seq(header: fix.FieldMap) -> int:
    return int(header.getField(34))


def _new_order(key: str, m: fix.Message, header: fix.FieldMap) -> cmd.SubmitOrder:
    errors: list[str] = []
    order_qty = _decimal(m, 38, errors)
    price = _decimal(m, 44, errors)
    stop_px = _decimal(m, 99, errors)
    return cmd.SubmitOrder(
        session=key, seq_num=_seq(header), raw=_raw(m),
        cl_ord_id=m.getField(11), symbol=_get(m, 55), side=_get(m, 54),
        ord_type=_get(m, 40), order_qty=order_qty, price=price, stop_px=stop_px,
        time_in_force=_get(m, 59), account=_get(m, 1), ex_destination=_get(m, 100),
        poss_resend=_get(header, 97) == "Y", poss_dup=_get(header, 43) == "Y",
        error="; ".join(errors),
        received_ns=time.perf_counter_ns())


def _cancel(key: str, m: fix.Message, header: fix.FieldMap) -> cmd.CancelOrder:
    return cmd.CancelOrder(
        session=key, seq_num=_seq(header), raw=_raw(m), cl_ord_id=m.getField(11),
        orig_cl_ord_id=_get(m, 41), order_id=_get(m, 37), symbol=_get(m, 55),
        side=_get(m, 54))


def _replace(key: str, m: fix.Message, header: fix.FieldMap) -> cmd.ReplaceOrder:
    errors: list[str] = []
    order_qty = _decimal(m, 38, errors)
    price = _decimal(m, 44, errors)
    stop_px = _decimal(m, 99, errors)
    return cmd.ReplaceOrder(
        session=key, seq_num=_seq(header), raw=_raw(m), cl_ord_id=m.getField(11),
        orig_cl_ord_id=_get(m, 41), order_id=_get(m, 37), symbol=_get(m, 55),
        side=_get(m, 54), ord_type=_get(m, 40), order_qty=order_qty, price=price,
        stop_px=stop_px, time_in_force=_get(m, 59), error="; ".join(errors))


def _status(key: str, m: fix.Message, header: fix.FieldMap) -> cmd.QueryOrderStatus:
    return cmd.QueryOrderStatus(
        session=key, seq_num=_seq(header), raw=_raw(m), cl_ord_id=_get(m, 11),
        order_id=_get(m, 37), symbol=_get(m, 55), side=_get(m, 54),
        ord_status_req_id=_get(m, 790))


def _execution_report(key: str, m: fix.Message, header: fix.FieldMap) -> cmd.ApplyBrokerReport:
    errors: list[str] = []
    return cmd.ApplyBrokerReport(
        session=key, seq_num=_seq(header), raw=_raw(m), cl_ord_id=_get(m, 11),
        orig_cl_ord_id=_get(m, 41), broker_order_id=_get(m, 37), exec_id=m.getField(17),
        exec_type=m.getField(150), ord_status=m.getField(39),
        last_qty=_decimal(m, 32, errors), last_px=_decimal(m, 31, errors),
        order_qty=_decimal(m, 38, errors), cum_qty=_decimal(m, 14, errors),
        exec_ref_id=_get(m, 19), ord_rej_reason=_get(m, 103),
        text="; ".join([_get(m, 58), *errors]).strip("; "),
        poss_dup=_get(header, 43) == "Y")


def _cancel_reject(key: str, m: fix.Message, header: fix.FieldMap
                   ) -> cmd.ApplyBrokerCancelReject:
    return cmd.ApplyBrokerCancelReject(
        session=key, seq_num=_seq(header), raw=_raw(m), cl_ord_id=m.getField(11),
        orig_cl_ord_id=_get(m, 41), broker_order_id=_get(m, 37), ord_status=_get(m, 39),
        response_to=_get(m, 434), reason=_get(m, 102), text=_get(m, 58))


_TRACKED = frozenset({"D", "F", "G"})
_TRACKED_MAX = 200_000
_UPSTREAM = {"D": _new_order, "F": _cancel, "G": _replace, "H": _status}
_BROKER = {"8": _execution_report, "9": _cancel_reject}
