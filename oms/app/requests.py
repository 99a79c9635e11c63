"""What clients (and operators) ask of the core: new orders, cancels, replaces, status.

A new order passes the ``RiskGate``, a live-duplicate check and the ``Router``; then it is
accepted and its child goes to the broker. A cancel or replace is checked against the
order's state (Appendix D) and the gate, then sent to the broker; the client hears the
outcome when the broker answers (``oms.app.broker``).
"""

from __future__ import annotations

import time

from oms.app.base import CoreBase
from oms.app.commands import (
    CancelOrder,
    ExpireHeldRequest,
    OperatorCancel,
    OperatorOrder,
    QueryOrderStatus,
    ReplaceOrder,
    SubmitOrder,
)
from oms.app.events import (
    NO_BROKER,
    ChangePending,
    ChangeRequested,
    ChildRouted,
    OrderAccepted,
    OrderDenied,
)
from oms.app.messages import (
    NONE_ID,
    CancelChildOrder,
    NewChildOrder,
    ReplaceChildOrder,
    UnknownOrderStatus,
)
from oms.app.ports import DEFAULT_HOLD_SECONDS, Denial, Route
from oms.app.records import ArrivalQuote
from oms.domain.enums import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
    member_or_none,
)
from oms.domain.errors import OmsError
from oms.domain.order import ZERO, ChildOrder, Order, PendingRequest, Trigger

_DUPLICATE = OrdRejReason.DUPLICATE_ORDER._value_
_NO_ROUTE = OrdRejReason.BROKER_OPTION._value_


class ClientRequests(CoreBase):
    """The handlers of client and operator requests."""

    # --- new orders ------------------------------------------------------------------------
    def _on_submit(self, cmd: SubmitOrder) -> None:
        if cmd.received_ns:
            self.stats.queue_wait_ns.append(time.perf_counter_ns() - cmd.received_ns)
        seen = self.seen_cl_ord_ids.setdefault(cmd.session, set())
        if (cmd.poss_resend or cmd.poss_dup) and cmd.cl_ord_id in seen:
            # FIX 4.4 Vol 2: a PossResend/PossDup message already processed is ignored
            self.inbound(cmd, None, "D")
            flag = "PossDup" if cmd.poss_dup else "PossResend"
            self.journal_event("ignored", None, cmd.session, "D",
                               f"{flag} order {cmd.cl_ord_id} already seen on this session")
            return
        seen.add(cmd.cl_ord_id)
        order = self._new_order(cmd)
        self.inbound(cmd, order.order_id, "D")
        checks_started = time.perf_counter_ns()
        denial = self.risk.check_new(cmd, order)
        existing = self.by_upstream.get((cmd.session, cmd.cl_ord_id))
        if denial is None and existing is not None and existing.is_live:
            denial = Denial(f"Duplicate ClOrdID {cmd.cl_ord_id}: it names a live order",
                            _DUPLICATE)
        route: Route | str = ""
        if denial is None:
            route = self.router.route(order)
            if isinstance(route, str):
                denial = Denial(route, _NO_ROUTE)
        self.stats.checks_ns.append(time.perf_counter_ns() - checks_started)
        self.orders[order.order_id] = order
        self.stats.orders += 1
        if denial is not None:
            order.text = denial.reason
            order.apply(Trigger.DENY)
            if existing is None or not existing.is_live:
                self.by_upstream[(order.session, order.cl_ord_id)] = order
            self.publish(OrderDenied(order, OrdStatus.PENDING_NEW, Trigger.DENY,
                                     denial.reason, denial.code))
            return
        assert isinstance(route, Route)
        self.by_upstream[(cmd.session, cmd.cl_ord_id)] = order
        child_id = self.ids.child_cl_ord_id()
        child = ChildOrder(child_id, order.order_id, route.name, route.session, child_id,
                           order.order_qty, created_at=self.now)
        order.route_to(child)
        self.by_child[child_id] = child
        self.publish(OrderAccepted(order, order.status, None, route))
        message = self.emit(NewChildOrder(route.session, order, child_id,
                                          order.account or route.account, self.now),
                            order.order_id)
        message.received_ns = cmd.received_ns
        self.publish(ChildRouted(order, order.status, None, route, child))

    def _new_order(self, cmd: SubmitOrder) -> Order:
        side = member_or_none(Side, cmd.side)
        ord_type = member_or_none(OrdType, cmd.ord_type)
        tif = member_or_none(TimeInForce, cmd.time_in_force or TimeInForce.DAY._value_)
        order = Order(
            order_id=self.ids.order_id(),
            session=cmd.session,
            cl_ord_id=cmd.cl_ord_id,
            symbol=cmd.symbol,
            side=side or Side.BUY,
            ord_type=ord_type or OrdType.MARKET,
            order_qty=cmd.order_qty if cmd.order_qty is not None else ZERO,
            price=cmd.price,
            stop_px=cmd.stop_px,
            time_in_force=tif or TimeInForce.DAY,
            account=cmd.account,
            ex_destination=cmd.ex_destination,
            created_at=self.now,
        )
        # #20: the quote the order arrives to, for TCA, stored once (order_arrivals); none:
        # the order has no arrival quote
        quote = self.quotes.quote(cmd.symbol)
        if quote is not None:
            order.arrival_bid = quote.bid
            order.arrival_ask = quote.ask
            order.arrival_mid = quote.mid
            order.arrival_stale = self.quotes.is_stale(cmd.symbol, self.now)
            self.batch.arrivals.append(ArrivalQuote(
                order.order_id, quote.bid, quote.ask, order.arrival_mid, order.arrival_stale))
        return order

    # --- cancels and replaces --------------------------------------------------------------
    def _find_upstream(self, session: str, orig_cl_ord_id: str, order_id: str) -> Order | None:
        order = self.by_upstream.get((session, orig_cl_ord_id))
        if order is None and order_id and order_id != NONE_ID:
            candidate = self.orders.get(order_id)
            if candidate is not None and candidate.session == session:
                order = candidate
        return order

    def _check_request(self, cmd: CancelOrder | ReplaceOrder, order: Order | None,
                       response_to: CxlRejResponseTo) -> ChildOrder | None:
        """Answer a cancel/replace that cannot go ahead with a cancel reject; else the
        child order it goes to."""
        def refuse(reason: CxlRejReason, text: str) -> ChildOrder | None:
            self.reports.cancel_reject(cmd.session, order, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                       response_to, reason, text)
            return None

        if order is None:
            return refuse(CxlRejReason.UNKNOWN_ORDER, f"Unknown order {cmd.orig_cl_ord_id}")
        duplicate = self.by_upstream.get((cmd.session, cmd.cl_ord_id))
        if duplicate is not None and cmd.cl_ord_id != cmd.orig_cl_ord_id:
            return refuse(CxlRejReason.DUPLICATE_CLORDID, f"Duplicate ClOrdID {cmd.cl_ord_id}")
        reopen = response_to is CxlRejResponseTo.REPLACE and order.status is OrdStatus.FILLED
        if not order.is_live and not reopen:
            return refuse(CxlRejReason.TOO_LATE_TO_CANCEL,
                          f"Order is {order.status._name_.replace('_', ' ').lower()}")
        if order.status.is_pending_request:
            return refuse(CxlRejReason.ALREADY_PENDING,
                          "A cancel or replace is already pending for this order")
        if order.status is OrdStatus.DONE_FOR_DAY and response_to is CxlRejResponseTo.REPLACE:
            return refuse(CxlRejReason.TOO_LATE_TO_CANCEL, "Order is done for the day")
        problem = self.risk.check_amend(cmd, order)
        if problem:
            return refuse(CxlRejReason.OTHER, problem)
        child = order.child
        if child is None:
            return refuse(CxlRejReason.BROKER_OPTION, "The order has no child at a broker")
        return child

    def _session_for(self, child: ChildOrder) -> tuple[str, Route | None]:
        """Where a cancel or replace for ``child`` goes (#19): its own session when it is
        up, else another session of its broker that is up when the broker takes requests
        there (``cancel_via_backup``), else its own (the message is then held)."""
        route = self.router.route_named(child.route)
        if self.health.is_up(child.session) or route is None or not route.cancel_via_backup:
            return child.session, route
        for session in route.sessions:
            if self.health.is_up(session):
                return session, route
        return child.session, route

    def _send_request(self, message: CancelChildOrder | ReplaceChildOrder, order: Order,
                      route: Route | None) -> bool:
        """Send a cancel or replace, or hold it while its session is down (#19): the
        client has its PendingCancel/PendingReplace; the message goes first on the
        session's next logon, or the request is refused after the broker's
        ``hold_seconds``. True if it is held."""
        session = message.session
        if self.health.is_up(session):
            self.emit(message, order.order_id)
            return False
        wait = route.hold_seconds if route is not None else DEFAULT_HOLD_SECONDS
        held = self.hold(message, order.order_id,
                         f"held: {session} is not logged on; sent when it is, refused "
                         f"after {wait:g} s")
        # the broker cannot say PendingCancel/PendingReplace now: we do
        cancel = isinstance(message, CancelChildOrder)
        trigger = Trigger.CANCEL_PENDING if cancel else Trigger.REPLACE_PENDING
        before = order.status
        order.apply(trigger)
        self.publish(ChangePending(
            order, before, trigger,
            ExecType.PENDING_CANCEL if cancel else ExecType.PENDING_REPLACE, order.pending,
            NO_BROKER))
        expire = ExpireHeldRequest(session, held.cl_ord_id, wait)
        submit = self.queue.put
        self.batch.after_commit.append(
            lambda: self.timers.call_later(wait, lambda: submit(expire)))
        return True

    def _on_expire_held(self, cmd: ExpireHeldRequest) -> None:
        message = self.outbox.drop_held(cmd.session, cmd.child_cl_ord_id)
        if message is None:
            return  # sent at a logon meanwhile
        child = self.by_child.get(cmd.child_cl_ord_id)
        order = self.orders.get(child.order_id) if child is not None else None
        pending = order.pending if order is not None else None
        self.journal_event("outbox", order.order_id if order else None, cmd.session,
                           message.msg_type, f"dropped the held {message.msg_type} for "
                           f"{cmd.child_cl_ord_id}: {cmd.session} did not log on in time")
        if order is None or pending is None or pending.child_cl_ord_id != cmd.child_cl_ord_id:
            return
        self._refuse_pending(order, pending, CxlRejReason.BROKER_OPTION,
                             f"Broker {child.route if child else '?'} is not connected "
                             f"(waited {cmd.waited:g} s)")

    def _on_cancel(self, cmd: CancelOrder) -> None:
        order = self._find_upstream(cmd.session, cmd.orig_cl_ord_id, cmd.order_id)
        self.inbound(cmd, order.order_id if order else None, "F")
        child = self._check_request(cmd, order, CxlRejResponseTo.CANCEL)
        if child is None:
            return
        assert order is not None
        self._request_cancel(order, child, PendingRequest(
            kind="cancel", cl_ord_id=cmd.cl_ord_id, orig_cl_ord_id=cmd.orig_cl_ord_id,
            child_cl_ord_id=self.ids.child_cl_ord_id()))

    def _request(self, order: Order, child: ChildOrder, request: PendingRequest) -> str:
        """Put ``request`` on the order's child; the child's ClOrdID it replaces."""
        before = order.status
        current = child.cl_ord_id
        order.request(request)
        self.by_child[request.child_cl_ord_id] = child
        if request.cl_ord_id:
            self.by_upstream[(order.session, request.cl_ord_id)] = order
        trigger = Trigger.CANCEL_REQUEST if request.kind == "cancel" else Trigger.REPLACE_REQUEST
        self.publish(ChangeRequested(order, before, trigger, request))
        return current

    def _request_cancel(self, order: Order, child: ChildOrder, request: PendingRequest
                        ) -> bool:
        """Send (or hold: True) a cancel of ``child``."""
        session, route = self._session_for(child)
        current = self._request(order, child, request)
        return self._send_request(CancelChildOrder(
            session, order, request.child_cl_ord_id, current, child.broker_order_id,
            self.now), order, route)

    def _on_replace(self, cmd: ReplaceOrder) -> None:
        order = self._find_upstream(cmd.session, cmd.orig_cl_ord_id, cmd.order_id)
        self.inbound(cmd, order.order_id if order else None, "G")
        child = self._check_request(cmd, order, CxlRejResponseTo.REPLACE)
        if child is None:
            return
        assert order is not None
        problem = self.risk.check_replace(cmd, order)
        if problem:
            self.reports.cancel_reject(cmd.session, order, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                       CxlRejResponseTo.REPLACE, CxlRejReason.OTHER, problem)
            return
        ord_type = member_or_none(OrdType, cmd.ord_type) or order.ord_type
        tif = member_or_none(TimeInForce, cmd.time_in_force) if cmd.time_in_force else None
        request = PendingRequest(
            kind="replace", cl_ord_id=cmd.cl_ord_id, orig_cl_ord_id=cmd.orig_cl_ord_id,
            child_cl_ord_id=self.ids.child_cl_ord_id(),
            order_qty=cmd.order_qty, price=cmd.price, stop_px=cmd.stop_px,
            ord_type=ord_type, time_in_force=tif)
        session, route = self._session_for(child)
        current = self._request(order, child, request)
        self._send_request(ReplaceChildOrder(
            session, order, request.child_cl_ord_id, current, child.broker_order_id,
            # as on the child's new order: FIX 4.4 asks that unchanged fields be sent again
            order.account or (route.account if route is not None else ""),
            cmd.order_qty if cmd.order_qty is not None else order.order_qty,
            ord_type,
            cmd.price if cmd.price is not None else order.price,
            cmd.stop_px if cmd.stop_px is not None else order.stop_px,
            tif or order.time_in_force, self.now), order, route)

    # --- status ------------------------------------------------------------------------------
    def _on_status(self, cmd: QueryOrderStatus) -> None:
        order = self._find_upstream(cmd.session, cmd.cl_ord_id, cmd.order_id)
        self.inbound(cmd, order.order_id if order else None, "H")
        if order is not None:
            self.reports.report(order, ExecType.ORDER_STATUS, cl_ord_id=cmd.cl_ord_id,
                                status_req_id=cmd.ord_status_req_id)
            return
        self.emit(UnknownOrderStatus(cmd.session, cmd.cl_ord_id, cmd.order_id,
                                     cmd.ord_status_req_id, cmd.symbol, cmd.side,
                                     self.ids.exec_id(), self.now), None)

    # --- operators ---------------------------------------------------------------------------
    def _on_operator_order(self, cmd: OperatorOrder) -> None:
        """#21: a client's path for the operator's order; the answer after the commit."""
        submit = cmd.order
        self._on_submit(submit)
        order = self.by_upstream.get((submit.session, submit.cl_ord_id))
        reply = cmd.reply
        if order is None:
            answer: dict[str, object] = {"ok": False, "cl_ord_id": submit.cl_ord_id,
                                         "error": "the order was not taken (see the journal)"}
        else:
            refused = order.status is OrdStatus.REJECTED
            answer = {"ok": not refused, "order_id": order.order_id,
                      "cl_ord_id": order.cl_ord_id, "status": order.status._name_,
                      **({"error": order.text or "refused"} if refused else {})}
        self.batch.after_commit.append(lambda: reply.set_result(answer))

    def _on_operator_cancel(self, cmd: OperatorCancel) -> None:
        order = self.orders.get(cmd.order_id)
        try:
            if order is None:
                raise OmsError(f"unknown order {cmd.order_id}")
            if not order.is_live:
                raise OmsError(f"order {cmd.order_id} is {order.status._name_}")
            if order.status.is_pending_request:
                raise OmsError(f"order {cmd.order_id} already has a request pending")
            child = order.child
            if child is None:
                raise OmsError(f"order {cmd.order_id} has no child at a broker")
            self.journal_event("admin", order.order_id, "", "F", "operator cancel requested")
            held = self._request_cancel(order, child, PendingRequest(
                kind="cancel", cl_ord_id="", orig_cl_ord_id=order.cl_ord_id,
                child_cl_ord_id=self.ids.child_cl_ord_id(), operator=True))
        except OmsError as exc:
            cmd.reply.set_result({"ok": False, "error": str(exc)})
            return
        reply = cmd.reply
        answer: dict[str, object] = {"ok": True, "order_id": cmd.order_id,
                                     "status": "PENDING_CANCEL"}
        if held:
            answer["held"] = f"until {child.session} logs on"
        self.batch.after_commit.append(lambda: reply.set_result(answer))
