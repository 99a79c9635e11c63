"""What brokers tell the core: execution reports, cancel rejects, refused messages.

Each report is matched to its order by the child's ClOrdID (any in its chain) or the
broker's OrderID, checked (a broker ExecID counts once; the ``RiskGate`` looks at its
values), applied to the order through the state table, and published as an event; the
client hears of it from the subscribers (``oms.app.reports``).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from oms.app.base import CoreBase
from oms.app.commands import ApplyBrokerCancelReject, ApplyBrokerMessageReject, ApplyBrokerReport
from oms.app.events import (
    NO_BROKER,
    Broker,
    ChangePending,
    FillBusted,
    FillCorrected,
    OrderAcknowledged,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OrderStatusChanged,
)
from oms.app.messages import NONE_ID
from oms.domain.enums import CxlRejReason, ExecType, OrdRejReason, OrdStatus
from oms.domain.errors import InvalidStateTrigger, Overfill, UnknownExecution
from oms.domain.numbers import fmt, inferred_price
from oms.domain.order import ZERO, ChildOrder, Order, PendingRequest, Trigger

log = logging.getLogger(__name__)

_BROKER_EXEC_TRIGGERS = {
    ExecType.DONE_FOR_DAY._value_: Trigger.DONE_FOR_DAY,
    ExecType.EXPIRED._value_: Trigger.EXPIRE,
    ExecType.SUSPENDED._value_: Trigger.SUSPEND,
    ExecType.STOPPED._value_: Trigger.STOP,
}
# why a pending cancel/replace is refused when the broker's own change overtook it (#16)
_OVERTAKEN_BY = {ExecType.EXPIRED._value_: "Order expired",
                 ExecType.DONE_FOR_DAY._value_: "Order is done for the day"}
# a broker's OrdStatus, in answer to our status query, that says the order is working there
_BROKER_WORKING = frozenset((OrdStatus.NEW._value_, OrdStatus.PARTIALLY_FILLED._value_))
# a broker's OrdStatus in answer to our status query that shows no cancel/replace pending:
# by FIX 4.4's OrdStatus precedence a pending request would show as PendingCancel or
# PendingReplace over all of these; Canceled is the answer to a pending cancel
_BROKER_NOTHING_PENDING = _BROKER_WORKING | frozenset((
    OrdStatus.FILLED._value_, OrdStatus.DONE_FOR_DAY._value_, OrdStatus.EXPIRED._value_))
_PENDING_TRIGGERS = {ExecType.PENDING_CANCEL._value_: Trigger.CANCEL_PENDING,
                     ExecType.PENDING_REPLACE._value_: Trigger.REPLACE_PENDING}


def _broker_order_id(report: ApplyBrokerReport) -> str:
    """The broker's OrderID on ``report``, "" when it gave none (or "NONE")."""
    given = report.broker_order_id
    return "" if given == NONE_ID else given


def _overtaken(order: Order, pending: PendingRequest | None) -> PendingRequest | None:
    """The request pending before a change that the change answered without the broker
    saying so (the order left the pending state)."""
    return pending if pending is not None and order.pending is None else None


class BrokerReports(CoreBase):
    """The handlers of broker messages."""

    def _find_child(self, session: str, cl_ord_id: str, orig_cl_ord_id: str,
                    broker_order_id: str) -> tuple[Order, ChildOrder] | tuple[None, None]:
        """The child a broker message is about, and its parent order."""
        child = (self.by_child.get(cl_ord_id) or self.by_child.get(orig_cl_ord_id)
                 or self.by_broker_id.get((session, broker_order_id)))
        if child is None:
            return None, None
        return self.orders[child.order_id], child

    def _on_broker_report(self, cmd: ApplyBrokerReport) -> None:
        order, child = self._find_child(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                        cmd.broker_order_id)
        order_id = order.order_id if order else None
        key = (cmd.session, cmd.exec_id)
        self.inbound(cmd, order_id, "8")
        if cmd.exec_type != ExecType.ORDER_STATUS._value_:
            if key in self.seen_broker_execs:
                # #2: brokers resend reports after logon; a fill must never count twice
                self.journal_event("ignored", order_id, cmd.session, "8",
                                   f"duplicate broker ExecID {cmd.exec_id} dropped")
                return
            self.seen_broker_execs.add(key)
        if order is None or child is None:
            self.journal_event("error", None, cmd.session, "8",
                               f"ExecutionReport for unknown ClOrdID {cmd.cl_ord_id}")
            log.warning("broker ER for unknown ClOrdID %s on %s", cmd.cl_ord_id, cmd.session)
            return
        problem = self.risk.check_report(cmd)
        if problem:
            # #16: refused like any malformed report: journaled, the order left as it was
            log.warning("order %s: broker ER %s refused: %s", order.order_id, cmd.exec_id,
                        problem)
            self.journal_event("error", order.order_id, cmd.session, cmd.exec_type,
                               f"ExecutionReport {cmd.exec_id} refused: {problem}")
            return
        try:
            executions = self.batch.executions
            recorded = len(executions)
            self._apply_broker_report(order, child, cmd)
            broker_order_id = _broker_order_id(cmd)
            if broker_order_id and broker_order_id != child.broker_order_id:
                # journaled on the execution row this report made, if it made one (a New,
                # a fill: one row, the last): else the child's row is written again
                child.known_as(broker_order_id, journaled=len(executions) > recorded
                               and executions[-1].broker_order_id == broker_order_id)
                self.by_broker_id[(cmd.session, broker_order_id)] = child
                self.changed(order)
        except (InvalidStateTrigger, Overfill, UnknownExecution) as exc:
            log.warning("order %s: broker ER %s refused: %s", order.order_id, cmd.exec_id, exc)
            self.journal_event("error", order.order_id, cmd.session, cmd.exec_type,
                               f"{type(exc).__name__}: {exc}")
            self.changed(order)

    def _apply_broker_report(self, order: Order, child: ChildOrder,
                             cmd: ApplyBrokerReport) -> None:
        exec_type = cmd.exec_type
        before = order.status
        broker = (cmd.session, cmd.exec_id, _broker_order_id(cmd))
        pending = order.pending
        if exec_type == ExecType.NEW._value_:
            if order.accepted:
                self.journal_event("ignored", order.order_id, cmd.session, "8",
                                   "repeated New ack")
                return
            self._accept(order, broker)
        elif exec_type == ExecType.TRADE._value_:
            if cmd.last_qty is None or cmd.last_px is None:
                raise Overfill(f"fill {cmd.exec_id} without LastQty/LastPx")
            self._book_fill(order, child, cmd.last_qty, cmd.last_px, broker,
                            commission=cmd.commission, comm_type=cmd.comm_type)
        elif exec_type == ExecType.CANCELED._value_:
            self._cancel_order(order, broker, cmd.text)
        elif exec_type == ExecType.REPLACED._value_:
            if pending is None or pending.kind != "replace":
                raise InvalidStateTrigger(order.status._name_, Trigger.REPLACE._name_,
                                          order.order_id)
            self._replaced(order, pending, cmd.order_qty, broker)
        elif exec_type in _PENDING_TRIGGERS:
            trigger = _PENDING_TRIGGERS[exec_type]
            order.apply(trigger)
            self.publish(ChangePending(order, before, trigger, ExecType(exec_type), pending,
                                       broker))
        elif exec_type == ExecType.REJECTED._value_:
            order.text = cmd.text or "Rejected by broker"
            self._reject(order, cmd.ord_rej_reason or OrdRejReason.BROKER_OPTION._value_,
                         broker)
        elif exec_type == ExecType.PENDING_NEW._value_:
            self.journal_event("ignored", order.order_id, cmd.session, "8", "broker PendingNew")
        elif exec_type in _BROKER_EXEC_TRIGGERS:
            self._broker_status_change(order, exec_type, broker, cmd.text)
        elif exec_type == ExecType.RESTATED._value_:
            order.restate(cmd.order_qty)
            self.publish(OrderRestated(order, before, Trigger.RESTATE, broker, cmd.text,
                                       cmd.exec_restatement_reason))
        elif exec_type == ExecType.TRADE_CANCEL._value_:
            busted = order.bust(cmd.exec_ref_id)
            self.publish(FillBusted(order, before, Trigger.TRADE_CANCEL, busted, broker,
                                    cmd.text))
        elif exec_type == ExecType.TRADE_CORRECT._value_:
            if cmd.last_qty is None or cmd.last_px is None:
                raise Overfill(f"correction {cmd.exec_id} without LastQty/LastPx")
            exec_id = self.ids.exec_id()
            old = order.correct(cmd.exec_ref_id, exec_id, cmd.last_qty, cmd.last_px,
                                cmd.exec_id)
            self.publish(FillCorrected(order, before, Trigger.TRADE_CORRECT, old, exec_id,
                                       cmd.last_qty, cmd.last_px, broker))
        elif exec_type == ExecType.ORDER_STATUS._value_:
            self._apply_status_answer(order, child, cmd)
        else:
            self.journal_event("error", order.order_id, cmd.session, "8",
                               f"ExecType {exec_type} is not handled")

    # --- what a broker report does, each in one place -----------------------------------
    def _accept(self, order: Order, broker: Broker = NO_BROKER) -> None:
        """The broker has the order."""
        before = order.status
        order.apply(Trigger.ACCEPT)
        self.publish(OrderAcknowledged(order, before, Trigger.ACCEPT, broker))

    def _reject(self, order: Order, code: str, broker: Broker = NO_BROKER, *,
                answer_overtaken: bool = True) -> None:
        """The broker refused the order (``order.text`` says why)."""
        before = order.status
        pending = order.pending
        order.apply(Trigger.REJECT)
        self.publish(OrderRejected(order, before, Trigger.REJECT, order.text, code, broker,
                                   _overtaken(order, pending) if answer_overtaken else None))

    def _book_fill(self, order: Order, child: ChildOrder, qty: Decimal, px: Decimal,
                   broker: Broker, text: str = "", *, commission: Decimal | None = None,
                   comm_type: str = "") -> None:
        """Book a fill of ``child`` under an ExecID of ours."""
        before = order.status
        exec_id = self.ids.exec_id()
        trigger = order.fill(exec_id, qty, px, broker[1], child)
        self.publish(OrderFilled(order, before, trigger, child, exec_id, qty, px, broker, text,
                                 commission, comm_type))

    def _cancel_order(self, order: Order, broker: Broker, text: str) -> None:
        """The broker canceled the order."""
        before = order.status
        pending = order.pending
        # a cancel while our cancel is pending answers it, whichever ClOrdID the broker
        # quoted (an unsolicited cancel can cross our request on the wire)
        solicited = pending is not None and pending.kind == "cancel"
        order.apply(Trigger.CANCEL)
        self.publish(OrderCanceled(order, before, Trigger.CANCEL, broker, text,
                                   pending if solicited else None,
                                   None if solicited else _overtaken(order, pending)))

    def _broker_status_change(self, order: Order, exec_type: str, broker: Broker,
                              text: str) -> None:
        """DoneForDay, Expired, Suspended or Stopped, as the broker says."""
        before = order.status
        pending = order.pending
        trigger = _BROKER_EXEC_TRIGGERS[exec_type]
        order.apply(trigger)
        self.publish(OrderStatusChanged(order, before, trigger, ExecType(exec_type), broker,
                                        text, _overtaken(order, pending),
                                        _OVERTAKEN_BY.get(exec_type, "Order changed")))

    def _replaced(self, order: Order, pending: PendingRequest, order_qty: Decimal | None,
                  broker: Broker) -> None:
        """The broker replaced the order as we asked."""
        before = order.status
        old_cl_ord_id = order.cl_ord_id
        # #16: the broker's OrderQty stands: it is the quantity it works (Appendix D
        # C.3.c raises it to CumQty when fills passed the requested quantity)
        order.replace(order_qty)
        self.by_upstream[(order.session, order.cl_ord_id)] = order
        self.publish(OrderReplaced(order, before, Trigger.REPLACE,
                                   pending.orig_cl_ord_id or old_cl_ord_id, broker))

    # --- the answer to our status query --------------------------------------------------
    def _apply_status_answer(self, order: Order, child: ChildOrder,
                             cmd: ApplyBrokerReport) -> None:
        """Reconcile the order with the broker's answer to our status query.

        #16: after a logon whose sequence numbers were reset, the broker's resend cannot
        bring what happened while we were away: this answer is all we learn. It says the
        broker's OrdStatus, CumQty and AvgPx, not its fills, so a CumQty above ours is
        booked as one fill whose price the two AvgPx give. Its ExecID names no trade (and
        may repeat): nothing here keeps it. A CumQty below ours is an error: we never
        unbook a fill (a bust says which one)."""
        said = cmd.ord_status
        if said == OrdStatus.REJECTED._value_ and order.status is OrdStatus.PENDING_NEW:
            # #2: the broker never got this order (committed here, lost before it went
            # out): refuse it upstream
            order.text = f"Broker does not know the order: {cmd.text or 'unknown'}"
            self._reject(order, OrdRejReason.BROKER_OPTION._value_)
            return
        if not order.accepted and order.is_live and said != OrdStatus.REJECTED._value_:
            # the broker has the order, and its New never reached us (a broker that reset
            # its sequence numbers does not resend it): this answer is the acknowledgement
            self._accept(order)
        pending = order.pending
        if pending is not None and pending.kind == "replace" and cmd.cl_ord_id and \
                cmd.cl_ord_id == pending.child_cl_ord_id and \
                said != OrdStatus.PENDING_REPLACE._value_:
            # the broker answers under the replace's ClOrdID: it replaced the order, and
            # its Replaced report was lost with the connection (found by the crash suite
            # with a broker that resets: a replace, then fills up to the new quantity)
            self._replaced(order, pending, cmd.order_qty, NO_BROKER)
        if cmd.cum_qty is not None and cmd.cum_qty > order.cum_qty:
            self._book_status_fill(order, child, cmd)
        elif cmd.cum_qty is not None and cmd.cum_qty < order.cum_qty:
            self.journal_event("error", order.order_id, cmd.session, "8",
                               f"broker reports CumQty {fmt(cmd.cum_qty)}, blotter has "
                               f"{fmt(order.cum_qty)}: fills are never unbooked without a "
                               "bust")
        pending = order.pending
        if pending is not None and said in _BROKER_NOTHING_PENDING:
            # the broker shows no cancel/replace (it would say PendingCancel/PendingReplace,
            # FIX 4.4 OrdStatus precedence): our request never reached it, or its answer
            # was lost with the connection; say so, do not guess
            if said in _BROKER_WORKING or said == OrdStatus.DONE_FOR_DAY._value_:
                self._refuse_pending(order, pending, CxlRejReason.OTHER,
                                     "The request did not reach the broker; send it again")
            else:
                ended = "filled" if said == OrdStatus.FILLED._value_ else "expired"
                self._refuse_pending(order, pending, CxlRejReason.TOO_LATE_TO_CANCEL,
                                     f"The broker reports the order {ended}")
        if said == order.status._value_:
            return
        if said == OrdStatus.CANCELED._value_:
            self._cancel_order(order, NO_BROKER, cmd.text)
        elif said in (OrdStatus.EXPIRED._value_, OrdStatus.DONE_FOR_DAY._value_):
            # OrdStatus and ExecType share these codes
            self._broker_status_change(order, said, NO_BROKER, cmd.text)
        elif said == OrdStatus.FILLED._value_:
            # the booked fill takes the order to Filled; here it did not
            self.journal_event("error", order.order_id, cmd.session, "8",
                               f"broker reports the order filled, blotter has CumQty "
                               f"{fmt(order.cum_qty)} of {fmt(order.order_qty)}")

    def _book_status_fill(self, order: Order, child: ChildOrder,
                          cmd: ApplyBrokerReport) -> None:
        """Book the CumQty the broker has and we do not as one fill (#16)."""
        assert cmd.cum_qty is not None
        qty = cmd.cum_qty - order.cum_qty
        px = None if cmd.avg_px is None else \
            inferred_price(cmd.cum_qty * cmd.avg_px - order.notional, qty)
        if px is None or px < ZERO:
            said = "no AvgPx" if cmd.avg_px is None else f"AvgPx {fmt(cmd.avg_px)}"
            self.journal_event("error", order.order_id, cmd.session, "8",
                               f"broker reports CumQty {fmt(cmd.cum_qty)} and {said}, "
                               f"blotter has {fmt(order.cum_qty)} at AvgPx "
                               f"{fmt(order.avg_px)}: the {fmt(qty)} missing have no price; "
                               "nothing booked")
            return
        assert cmd.avg_px is not None
        self._book_fill(order, child, qty, px,
                        (cmd.session, "", _broker_order_id(cmd)),
                        text=f"Inferred from the broker's status answer: CumQty "
                             f"{fmt(cmd.cum_qty)}, AvgPx {fmt(cmd.avg_px)}")

    # --- refusals --------------------------------------------------------------------------
    def _on_broker_cancel_reject(self, cmd: ApplyBrokerCancelReject) -> None:
        order, _child = self._find_child(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                         cmd.broker_order_id)
        self.inbound(cmd, order.order_id if order else None, "9")
        if order is None:
            self.journal_event("error", None, cmd.session, "9",
                               f"OrderCancelReject for unknown ClOrdID {cmd.cl_ord_id}")
            return
        pending = order.pending
        if pending is None or pending.child_cl_ord_id != cmd.cl_ord_id:
            self.journal_event("error", order.order_id, cmd.session, "9",
                               f"OrderCancelReject for {cmd.cl_ord_id}, which is not pending")
            return
        self._refuse_pending(order, pending, cmd.reason or CxlRejReason.OTHER._value_,
                             cmd.text or "Refused by broker")

    def _on_broker_message_reject(self, cmd: ApplyBrokerMessageReject) -> None:
        child = self.by_child.get(cmd.cl_ord_id)
        order = self.orders[child.order_id] if child is not None else None
        self.inbound(cmd, order.order_id if order else None, "3" if not cmd.seq_num else "j")
        if order is None:
            self.journal_event("error", None, cmd.session, cmd.ref_msg_type,
                               f"broker refused our {cmd.ref_msg_type or '?'} for unknown "
                               f"ClOrdID {cmd.cl_ord_id or '?'}: {cmd.text}")
            return
        text = f"Refused by broker: {cmd.text}" if cmd.text else "Refused by broker"
        pending = order.pending
        if cmd.ref_msg_type == "D" and child is not None and cmd.cl_ord_id == child.cl_ord_id \
                and not order.accepted:
            order.text = text
            self._reject(order, OrdRejReason.BROKER_OPTION._value_, answer_overtaken=False)
        elif pending is not None and cmd.cl_ord_id == pending.child_cl_ord_id:
            self._refuse_pending(order, pending, CxlRejReason.BROKER_OPTION, text)
        else:
            self.journal_event("error", order.order_id, cmd.session, cmd.ref_msg_type,
                               f"broker refused our {cmd.ref_msg_type or '?'} "
                               f"{cmd.cl_ord_id}, which is not pending: {cmd.text}")
