"""The upstream ExecutionReports and OrderCancelRejects: a subscriber to the order events.

For each event it sends the client what FIX 4.4 says the client is owed (Appendix D), and
journals each execution it reports (``executions``). The core's handlers never build a
report themselves; they say what happened, and this module says it to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oms.app.events import (
    NO_BROKER,
    Broker,
    ChangePending,
    ChangeRefused,
    FillBusted,
    FillCorrected,
    OrderAccepted,
    OrderAcknowledged,
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OrderStatusChanged,
)
from oms.app.messages import CancelReject, ExecutionReport
from oms.app.records import ExecutionRecord
from oms.domain.enums import CxlRejReason, CxlRejResponseTo, ExecType
from oms.domain.order import ZERO, ChildOrder, Order, PendingRequest

if TYPE_CHECKING:
    from oms.app.base import CoreBase


class UpstreamReports:
    """Turns order events into messages to the client whose order it is."""

    def __init__(self, core: CoreBase) -> None:
        self.core = core
        # the events it reports, each with its handler (the core subscribes them)
        self.handlers: dict[type[OrderEvent], Callable[[Any], None]] = {
            OrderDenied: self._denied,
            OrderAcknowledged: self._acknowledged,
            OrderRejected: self._rejected,
            OrderFilled: self._filled,
            FillBusted: self._busted,
            FillCorrected: self._corrected,
            OrderCanceled: self._canceled,
            OrderReplaced: self._replaced,
            OrderRestated: self._restated,
            OrderStatusChanged: self._status_changed,
            ChangePending: self._change_pending,
            ChangeRefused: self._change_refused,
        }
        if core.settings.send_pending_new:  # else an accepted order is reported when acked
            self.handlers[OrderAccepted] = self._accepted

    # --- the reports ---------------------------------------------------------------------
    def report(self, order: Order, exec_type: ExecType, *, cl_ord_id: str | None = None,
               orig_cl_ord_id: str = "", last_qty: Decimal = ZERO, last_px: Decimal = ZERO,
               exec_ref_id: str = "", text: str = "", rej_reason: str = "",
               broker: Broker = NO_BROKER, status_req_id: str = "",
               exec_id: str | None = None, restatement_reason: str = "",
               child: ChildOrder | None = None) -> str:
        """Send an ExecutionReport about ``order`` upstream and journal the execution (as
        one of ``child``, by default the child working the order)."""
        core = self.core
        exec_id = exec_id or core.ids.exec_id()
        now: datetime = core.now
        leaves = order.leaves_qty
        avg_px = order.avg_px
        core.emit(ExecutionReport(
            order, exec_type, exec_id, cl_ord_id if cl_ord_id is not None else order.cl_ord_id,
            now, leaves, avg_px, orig_cl_ord_id, last_qty, last_px, exec_ref_id, text,
            rej_reason, status_req_id, restatement_reason), order.order_id)
        if exec_type is not ExecType.ORDER_STATUS:
            child = child or order.child
            core.batch.executions.append(ExecutionRecord(
                exec_id=exec_id,
                order_id=order.order_id,
                exec_type=exec_type._value_,
                ord_status=order.status._value_,
                last_qty=last_qty,
                last_px=last_px,
                cum_qty=order.cum_qty,
                leaves_qty=leaves,
                avg_px=avg_px,
                exec_ref_id=exec_ref_id,
                broker_session=broker[0],
                broker_exec_id=broker[1],
                broker_order_id=broker[2],
                transact_time=now,
                text=text,
                child_id=child.child_id if child is not None else "",
            ))
        return exec_id

    def cancel_reject(self, session: str, order: Order | None, cl_ord_id: str,
                      orig_cl_ord_id: str, response_to: CxlRejResponseTo,
                      reason: CxlRejReason | str, text: str) -> None:
        self.core.emit(CancelReject(session, order, cl_ord_id, orig_cl_ord_id, response_to,
                                    reason, text), order.order_id if order else None)

    def reject_request(self, order: Order, request: PendingRequest,
                       reason: CxlRejReason | str, text: str) -> None:
        """The OrderCancelReject for a client's cancel or replace (none for an operator's)."""
        if request.cl_ord_id:
            response_to = (CxlRejResponseTo.CANCEL if request.kind == "cancel"
                           else CxlRejResponseTo.REPLACE)
            self.cancel_reject(order.session, order, request.cl_ord_id,
                               request.orig_cl_ord_id, response_to, reason, text)

    def _answer_overtaken(self, order: Order, overtaken: PendingRequest | None,
                          text: str) -> None:
        """A client's cancel or replace that was pending when the broker ended or held the
        order (canceled, expired, done for the day, rejected) will get no answer from the
        broker: refuse it, too late, with the order's status after the change (#16)."""
        if overtaken is not None:
            self.reject_request(order, overtaken, CxlRejReason.TOO_LATE_TO_CANCEL, text)

    # --- one per event -----------------------------------------------------------------------
    def _accepted(self, e: OrderAccepted) -> None:
        self.report(e.order, ExecType.PENDING_NEW)

    def _denied(self, e: OrderDenied) -> None:
        self.report(e.order, ExecType.REJECTED, text=e.reason, rej_reason=e.code)

    def _acknowledged(self, e: OrderAcknowledged) -> None:
        self.report(e.order, ExecType.NEW, broker=e.broker)

    def _rejected(self, e: OrderRejected) -> None:
        self._answer_overtaken(e.order, e.overtaken, "Order was rejected")
        self.report(e.order, ExecType.REJECTED, text=e.text, broker=e.broker,
                    rej_reason=e.code)

    def _filled(self, e: OrderFilled) -> None:
        self.report(e.order, ExecType.TRADE, last_qty=e.qty, last_px=e.px, broker=e.broker,
                    exec_id=e.exec_id, text=e.text, child=e.child)

    def _busted(self, e: FillBusted) -> None:
        self.report(e.order, ExecType.TRADE_CANCEL, exec_ref_id=e.busted.exec_id,
                    broker=e.broker, text=e.text)

    def _corrected(self, e: FillCorrected) -> None:
        self.report(e.order, ExecType.TRADE_CORRECT, exec_ref_id=e.old.exec_id,
                    last_qty=e.qty, last_px=e.px, broker=e.broker, exec_id=e.exec_id)

    def _canceled(self, e: OrderCanceled) -> None:
        self._answer_overtaken(e.order, e.overtaken, "Order was canceled")
        request = e.request
        if request is not None and request.cl_ord_id:
            self.report(e.order, ExecType.CANCELED, cl_ord_id=request.cl_ord_id,
                        orig_cl_ord_id=request.orig_cl_ord_id, broker=e.broker, text=e.text)
        else:
            self.report(e.order, ExecType.CANCELED, broker=e.broker, text=e.text)

    def _replaced(self, e: OrderReplaced) -> None:
        self.report(e.order, ExecType.REPLACED, orig_cl_ord_id=e.orig_cl_ord_id,
                    broker=e.broker)

    def _restated(self, e: OrderRestated) -> None:
        # #16: the client is owed the broker's reason for the restatement; it is kept in
        # the journal's inbound row, the execution row has no place for it
        self.report(e.order, ExecType.RESTATED, broker=e.broker, text=e.text,
                    restatement_reason=e.reason)

    def _status_changed(self, e: OrderStatusChanged) -> None:
        self._answer_overtaken(e.order, e.overtaken, e.overtaken_text)
        self.report(e.order, e.exec_type, broker=e.broker, text=e.text)

    def _change_pending(self, e: ChangePending) -> None:
        request = e.request
        if request is not None and request.cl_ord_id:
            self.report(e.order, e.exec_type, cl_ord_id=request.cl_ord_id,
                        orig_cl_ord_id=request.orig_cl_ord_id, broker=e.broker)

    def _change_refused(self, e: ChangeRefused) -> None:
        self.reject_request(e.order, e.request, e.reason, e.text)
