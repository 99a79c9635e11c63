"""Properties of an order's quantities under random fills, busts, corrections and cancels.

A Hypothesis state machine drives one order through legal moves only, keeping its own
list of live fills as the model, and checks after every step that CumQty, notional,
LeavesQty, AvgPx and OrdStatus agree with that model.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import hypothesis.strategies as st
from hypothesis import given, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from oms.domain.enums import OrdStatus
from oms.domain.errors import Overfill
from oms.domain.order import Trigger
from tests.unit.domain.builders import cancel_request, new_order, status_implied_by_quantities

S = OrdStatus
T = Trigger
D = Decimal

PRICES = st.decimals(min_value="0.01", max_value="5000", places=2)
# a quantity is a whole number of units; the unit is a share or a hundredth of one
UNITS = st.sampled_from([D(1), D("0.01")])
FILLABLE = (S.NEW, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.CANCELED)


class OrderUnderFire(RuleBasedStateMachine):
    """One accepted order; fills, busts, corrections, a cancel request and its answers."""

    @initialize(units=st.integers(min_value=1, max_value=10_000), unit=UNITS)
    def accept_an_order(self, units, unit):
        self.unit = unit
        self.order = new_order(units * unit)
        self.order.apply(T.ACCEPT)
        self.booked: dict[str, tuple[Decimal, Decimal]] = {}  # ExecID -> (qty, px)
        self.next_exec = 0
        self.version = self.order.version

    # --- helpers ----------------------------------------------------------------------
    def _exec_id(self) -> str:
        self.next_exec += 1
        return f"E{self.next_exec}"

    def _open_units(self) -> int:
        return int((self.order.order_qty - self.order.cum_qty) / self.unit)

    def _changed(self) -> None:
        assert self.order.version == self.version + 1
        self.version = self.order.version

    # --- rules ------------------------------------------------------------------------
    @precondition(lambda self: self.order.status in FILLABLE and self._open_units() > 0)
    @rule(data=st.data(), px=PRICES)
    def fill(self, data, px):
        qty = data.draw(st.integers(1, self._open_units())) * self.unit
        exec_id = self._exec_id()
        trigger = self.order.fill(exec_id, qty, px)
        self.booked[exec_id] = (qty, px)
        assert trigger is (T.FILL if self._open_units() == 0 else T.PARTIAL_FILL)
        self._changed()

    @precondition(lambda self: self.order.status in FILLABLE or self.order.status is S.FILLED)
    @rule(extra=st.integers(min_value=1, max_value=1000), px=PRICES)
    def overfill_is_refused(self, extra, px):
        before = copy.deepcopy(self.order)
        qty = (self._open_units() + extra) * self.unit
        try:
            self.order.fill(self._exec_id(), qty, px)
        except Overfill:
            pass
        else:
            raise AssertionError(f"a fill of {qty} above the open quantity was booked")
        assert self.order == before

    @precondition(lambda self: self.booked)
    @rule(data=st.data())
    def bust(self, data):
        exec_id = data.draw(st.sampled_from(sorted(self.booked)))
        busted = self.order.bust(exec_id)
        assert (busted.qty, busted.px) == self.booked.pop(exec_id)
        self._changed()

    @precondition(lambda self: self.booked)
    @rule(data=st.data(), px=PRICES)
    def correct(self, data, px):
        ref_exec_id = data.draw(st.sampled_from(sorted(self.booked)))
        old_qty, _ = self.booked[ref_exec_id]
        most = int(old_qty / self.unit) + self._open_units()
        qty = data.draw(st.integers(1, most)) * self.unit
        exec_id = self._exec_id()
        self.order.correct(ref_exec_id, exec_id, qty, px)
        del self.booked[ref_exec_id]
        self.booked[exec_id] = (qty, px)
        self._changed()

    @precondition(lambda self: self.order.status in (S.NEW, S.PARTIALLY_FILLED))
    @rule()
    def request_cancel(self):
        self.order.request(cancel_request())
        assert self.order.status is S.PENDING_CANCEL
        self._changed()

    @precondition(lambda self: self.order.status is S.PENDING_CANCEL)
    @rule()
    def reject_cancel(self):
        self.order.apply(T.CANCEL_REJECT)
        assert self.order.pending is None
        self._changed()

    @precondition(lambda self: self.order.status in (S.NEW, S.PARTIALLY_FILLED, S.PENDING_CANCEL))
    @rule()
    def cancel(self):
        self.order.apply(T.CANCEL)
        assert self.order.status is S.CANCELED
        self._changed()

    # --- invariants -------------------------------------------------------------------
    @invariant()
    def cum_qty_is_the_sum_of_live_fills(self):
        assert self.order.cum_qty == sum(qty for qty, _ in self.booked.values())
        assert self.order.cum_qty == sum(fill.qty for fill in self.order.fills)
        assert {fill.exec_id for fill in self.order.fills} == set(self.booked)

    @invariant()
    def notional_is_the_sum_of_qty_times_px(self):
        assert self.order.notional == sum(qty * px for qty, px in self.booked.values())

    @invariant()
    def leaves_qty_stays_within_order_qty(self):
        assert 0 <= self.order.leaves_qty <= self.order.order_qty
        if self.order.is_live and self.order.status is not S.DONE_FOR_DAY:
            assert self.order.cum_qty + self.order.leaves_qty == self.order.order_qty
        else:
            assert self.order.leaves_qty == 0

    @invariant()
    def avg_px_lies_between_the_lowest_and_highest_fill_price(self):
        prices = [px for _, px in self.booked.values()]
        if prices:
            assert min(prices) <= self.order.avg_px <= max(prices)
        else:
            assert self.order.avg_px == 0

    @invariant()
    def status_follows_the_quantities_unless_pending_or_canceled(self):
        status = self.order.status
        if status is S.PENDING_CANCEL:
            assert self.order.pending == cancel_request()
        elif status is not S.CANCELED:
            assert status is self.order.working_status()
            assert status is status_implied_by_quantities(self.order)
            assert self.order.pending is None


OrderUnderFire.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestOrderUnderFire = OrderUnderFire.TestCase


@settings(deadline=None)
@given(
    fills=st.lists(
        st.tuples(st.integers(min_value=1, max_value=500), PRICES), min_size=1, max_size=20
    )
)
def test_fills_that_complete_the_order_leave_nothing_open(fills):
    # Arrange: an order for exactly what the fills add up to
    order = new_order(sum(qty for qty, _ in fills))
    order.apply(T.ACCEPT)

    # Act
    triggers = [order.fill(f"E{n}", D(qty), px) for n, (qty, px) in enumerate(fills)]

    # Assert
    assert triggers == [T.PARTIAL_FILL] * (len(fills) - 1) + [T.FILL]
    assert order.status is S.FILLED
    assert order.leaves_qty == 0
    assert order.notional == sum(D(qty) * px for qty, px in fills)
    assert min(px for _, px in fills) <= order.avg_px <= max(px for _, px in fills)
