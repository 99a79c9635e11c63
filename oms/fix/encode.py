"""The core's typed outbound messages as FIX 4.4 fields: the ``Encoder`` port.

Each message type has one function here that lists its fields, as ``tag=value`` text, in
the order they go on the wire. The core calls ``FixEncoder.encode`` in its own thread for every message it sends:
the result is journaled with the batch and handed to the engine after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from oms.app.messages import (
    NONE_ID,
    CancelChildOrder,
    CancelReject,
    ExecutionReport,
    NewChildOrder,
    Outbound,
    QueryChildStatus,
    ReplaceChildOrder,
    UnknownOrderStatus,
)
from oms.app.ports import OutMessage
from oms.domain.enums import CxlRejReason, ExecType, OrdStatus
from oms.domain.numbers import fmt

Fields = list[str]  # "tag=value"
_TRADES = (ExecType.TRADE, ExecType.TRADE_CORRECT)
# HandlInst (21) on our child orders: automated execution, no broker intervention
_AUTOMATED = "1"


def fix_time(moment: datetime) -> str:
    """A UTCTimestamp with milliseconds."""
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class FixEncoder:
    """``Encoder``: one function per message type. The messages of a batch share one
    TransactTime, so its text is kept from one message to the next."""

    def __init__(self) -> None:
        self._time: datetime | None = None
        self._time_text = ""
        self._encoders: dict[type, Callable[[Any], OutMessage]] = {
            ExecutionReport: self._execution_report,
            UnknownOrderStatus: self._unknown_order_status,
            CancelReject: self._cancel_reject,
            NewChildOrder: self._new_child,
            CancelChildOrder: self._cancel_child,
            ReplaceChildOrder: self._replace_child,
            QueryChildStatus: self._query_child,
        }

    def encode(self, message: Outbound) -> OutMessage:
        return self._encoders[type(message)](message)

    def _text(self, moment: datetime) -> str:
        if moment is not self._time:
            self._time = moment
            self._time_text = fix_time(moment)
        return self._time_text

    # --- to a client ----------------------------------------------------------------------
    def _execution_report(self, m: ExecutionReport) -> OutMessage:
        order = m.order
        fields: Fields = ["37=" + order.order_id, "11=" + m.cl_ord_id]
        if m.orig_cl_ord_id:
            fields.append("41=" + m.orig_cl_ord_id)
        if m.status_req_id:
            fields.append("790=" + m.status_req_id)
        fields += ["17=" + m.exec_id, "150=" + m.exec_type._value_, "39=" + order.status._value_]
        if m.rej_reason:
            fields.append("103=" + m.rej_reason)
        if m.restatement_reason:
            fields.append("378=" + m.restatement_reason)
        if m.exec_ref_id:
            fields.append("19=" + m.exec_ref_id)
        if order.account:
            fields.append("1=" + order.account)
        if order.symbol:
            fields.append("55=" + order.symbol)
        fields += ["54=" + order.side._value_, "38=" + fmt(order.order_qty),
                   "40=" + order.ord_type._value_]
        if order.price is not None:
            fields.append("44=" + fmt(order.price))
        if order.stop_px is not None:
            fields.append("99=" + fmt(order.stop_px))
        fields.append("59=" + order.time_in_force._value_)
        if m.exec_type in _TRADES:
            fields += ["32=" + fmt(m.last_qty), "31=" + fmt(m.last_px)]
        fields += ["151=" + fmt(m.leaves_qty), "14=" + fmt(order.cum_qty),
                   "6=" + fmt(m.avg_px), "60=" + self._text(m.transact_time)]
        if m.text:
            fields.append("58=" + m.text)
        return OutMessage(order.session, "8", "\x01".join(fields))

    def _unknown_order_status(self, m: UnknownOrderStatus) -> OutMessage:
        fields: Fields = ["37=" + (m.order_id or NONE_ID), "11=" + m.cl_ord_id]
        if m.status_req_id:
            fields.append("790=" + m.status_req_id)
        fields += ["17=" + m.exec_id, "150=" + ExecType.ORDER_STATUS._value_,
                   "39=" + OrdStatus.REJECTED._value_]
        if m.symbol:
            fields.append("55=" + m.symbol)
        if m.side:
            fields.append("54=" + m.side)
        fields += ["151=0", "14=0", "6=0", "60=" + self._text(m.transact_time),
                   f"58=Unknown order {m.cl_ord_id}"]
        return OutMessage(m.session, "8", "\x01".join(fields))

    def _cancel_reject(self, m: CancelReject) -> OutMessage:
        order = m.order
        fields: Fields = [
            "37=" + (order.order_id if order else NONE_ID),
            "11=" + m.cl_ord_id,
            "41=" + m.orig_cl_ord_id,
            "39=" + (order.status._value_ if order else OrdStatus.REJECTED._value_),
            "434=" + m.response_to._value_,
            "102=" + (m.reason._value_ if isinstance(m.reason, CxlRejReason) else m.reason),
        ]
        if m.text:
            fields.append("58=" + m.text)
        return OutMessage(m.session, "9", "\x01".join(fields))

    # --- to a broker ------------------------------------------------------------------------
    def _new_child(self, m: NewChildOrder) -> OutMessage:
        order = m.order
        fields: Fields = ["11=" + m.cl_ord_id]
        if m.account:
            fields.append("1=" + m.account)
        fields += ["21=" + _AUTOMATED, "55=" + order.symbol, "54=" + order.side._value_,
                   "60=" + self._text(m.transact_time), "38=" + fmt(order.order_qty),
                   "40=" + order.ord_type._value_]
        if order.price is not None:
            fields.append("44=" + fmt(order.price))
        if order.stop_px is not None:
            fields.append("99=" + fmt(order.stop_px))
        fields.append("59=" + order.time_in_force._value_)
        if order.ex_destination:
            fields.append("100=" + order.ex_destination)
        return OutMessage(m.session, "D", "\x01".join(fields), cl_ord_id=m.cl_ord_id)

    def _cancel_child(self, m: CancelChildOrder) -> OutMessage:
        order = m.order
        fields: Fields = ["41=" + m.orig_cl_ord_id]
        if m.broker_order_id:
            fields.append("37=" + m.broker_order_id)
        fields += ["11=" + m.cl_ord_id, "55=" + order.symbol, "54=" + order.side._value_,
                   "60=" + self._text(m.transact_time), "38=" + fmt(order.order_qty)]
        return OutMessage(m.session, "F", "\x01".join(fields), cl_ord_id=m.cl_ord_id)

    def _replace_child(self, m: ReplaceChildOrder) -> OutMessage:
        order = m.order
        fields: Fields = ["41=" + m.orig_cl_ord_id]
        if m.broker_order_id:
            fields.append("37=" + m.broker_order_id)
        fields.append("11=" + m.cl_ord_id)
        if m.account:
            fields.append("1=" + m.account)
        fields += ["21=" + _AUTOMATED, "55=" + order.symbol, "54=" + order.side._value_,
                   "60=" + self._text(m.transact_time), "38=" + fmt(m.order_qty),
                   "40=" + m.ord_type._value_]
        if m.price is not None and m.ord_type.needs_price:
            fields.append("44=" + fmt(m.price))
        if m.stop_px is not None and m.ord_type.needs_stop_px:
            fields.append("99=" + fmt(m.stop_px))
        fields.append("59=" + m.time_in_force._value_)
        if order.ex_destination:
            fields.append("100=" + order.ex_destination)
        return OutMessage(m.session, "G", "\x01".join(fields), cl_ord_id=m.cl_ord_id)

    def _query_child(self, m: QueryChildStatus) -> OutMessage:
        order = m.order
        fields: Fields = []
        if m.broker_order_id:
            fields.append("37=" + m.broker_order_id)
        fields += ["11=" + m.cl_ord_id, "55=" + order.symbol, "54=" + order.side._value_]
        return OutMessage(m.session, "H", "\x01".join(fields))
