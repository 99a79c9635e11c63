"""The position keeper's subscriber (#21): fills, busts and corrections to the keeper, its
rows into the batch.

A subscriber to ``OrderFilled``, ``FillBusted`` and ``FillCorrected`` like the journal's and
the reports': it runs on the core thread inside the batch, after them, hands the change to
the keeper, and adds the fill's fee (``Batch.fees``, when not zero) to the batch; as the
batch is taken (``CoreBase.row_makers``) each position it changed gets its row
(``Batch.positions``), made once however many fills of it the batch holds. Both commit with
the executions that caused them, or not at all. The keeper itself (``oms.portfolio.keeper``) is behind the
``PositionKeeper`` port. Without one nothing subscribes and the order path costs what it did.

A keeper that raises is a bug of the keeper: the fill stands (it is the broker's), the error
is journaled and logged, and ``oms positions verify`` will show the difference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oms.app.base import CoreBase
from oms.app.events import FillBusted, FillCorrected, OrderEvent, OrderFilled
from oms.app.ports import PositionKeeper
from oms.app.records import Batch, FillFee

log = logging.getLogger(__name__)


class PositionFeed:
    """Hands the core's fills to a ``PositionKeeper`` (see the module's docstring)."""

    def __init__(self, core: CoreBase, keeper: PositionKeeper) -> None:
        self.core = core
        self.keeper = keeper
        self._changed: dict[tuple[str, str], None] = {}  # positions changed in this batch
        core.subscribe(self._filled, OrderFilled)
        core.subscribe(self._busted, FillBusted)
        core.subscribe(self._corrected, FillCorrected)
        core.row_makers.append(self._rows)

    def _filled(self, event: OrderEvent) -> None:
        assert isinstance(event, OrderFilled)  # subscribed to OrderFilled only
        order = event.order
        try:
            where, fee = self.keeper.fill(
                event.exec_id, order.account, order.symbol, order.side._value_, event.qty,
                event.px, event.child.route, event.commission, event.comm_type)
        except Exception as exc:  # noqa: BLE001 - see the module's docstring
            self._failed(event, exc)
            return
        self._changed[where] = None
        if fee:
            self.core.batch.fees.append(FillFee(event.exec_id, fee))

    def _busted(self, event: OrderEvent) -> None:
        assert isinstance(event, FillBusted)
        self._change(event, lambda: self.keeper.bust(event.busted.exec_id))

    def _corrected(self, event: OrderEvent) -> None:
        assert isinstance(event, FillCorrected)
        self._change(event, lambda: self.keeper.correct(event.old.exec_id, event.exec_id,
                                                        event.qty, event.px))

    def _change(self, event: OrderEvent,
                change: Callable[[], tuple[str, str] | None]) -> None:
        """A bust or correction: the position it changed (if the keeper had the fill)."""
        try:
            where = change()
        except Exception as exc:  # noqa: BLE001 - see the module's docstring
            self._failed(event, exc)
            return
        if where is not None:
            self._changed[where] = None

    def _rows(self, batch: Batch) -> None:
        if not self._changed:
            return
        row, now, rows = self.keeper.row, self.core.now, batch.positions
        for where in self._changed:
            rows[where] = row(where[0], where[1], now)
        self._changed = {}

    def _failed(self, event: OrderEvent, exc: Exception) -> None:
        order = event.order
        text = f"position keeper failed on {type(event).__name__}: {exc!r}"
        log.error("%s (order %s)", text, order.order_id)
        self.core.journal_event("error", order.order_id, order.session, "", text)
