"""The position keeper's subscriber (#21): fills, busts and corrections to the keeper, its
rows into the batch.

A subscriber to ``OrderFilled``, ``FillBusted`` and ``FillCorrected`` like the journal's and
the reports': it runs on the core thread inside the batch, after them, and adds the
position's new row (``Batch.positions``, the latest per account and symbol) and the fill's
fee (``Batch.fees``, when not zero) to the batch, so they commit with the execution that
caused them, or not at all. The keeper itself (``oms.portfolio.keeper``) is behind the
``PositionKeeper`` port. Without one nothing subscribes and the order path costs what it did.

A keeper that raises is a bug of the keeper: the fill stands (it is the broker's), the error
is journaled and logged, and ``oms positions verify`` will show the difference.
"""

from __future__ import annotations

import logging

from oms.app.base import CoreBase
from oms.app.events import FillBusted, FillCorrected, OrderEvent, OrderFilled
from oms.app.ports import PositionKeeper
from oms.app.records import FillFee, PositionRecord

log = logging.getLogger(__name__)


class PositionFeed:
    """Hands the core's fills to a ``PositionKeeper`` (see the module's docstring)."""

    def __init__(self, core: CoreBase, keeper: PositionKeeper) -> None:
        self.core = core
        self.keeper = keeper
        core.subscribe(self._filled, OrderFilled)
        core.subscribe(self._busted, FillBusted)
        core.subscribe(self._corrected, FillCorrected)

    def _filled(self, event: OrderEvent) -> None:
        assert isinstance(event, OrderFilled)  # subscribed to OrderFilled only
        order = event.order
        try:
            record, fee = self.keeper.fill(
                event.exec_id, order.account, order.symbol, order.side._value_, event.qty,
                event.px, event.child.route, event.commission, event.comm_type,
                self.core.now)
        except Exception as exc:  # noqa: BLE001 - see the module's docstring
            self._failed(event, exc)
            return
        self._keep(record)
        if fee:
            self.core.batch.fees.append(FillFee(event.exec_id, fee))

    def _busted(self, event: OrderEvent) -> None:
        assert isinstance(event, FillBusted)
        try:
            record = self.keeper.bust(event.busted.exec_id, self.core.now)
        except Exception as exc:  # noqa: BLE001
            self._failed(event, exc)
            return
        if record is not None:
            self._keep(record)

    def _corrected(self, event: OrderEvent) -> None:
        assert isinstance(event, FillCorrected)
        try:
            record = self.keeper.correct(event.old.exec_id, event.exec_id, event.qty,
                                         event.px, self.core.now)
        except Exception as exc:  # noqa: BLE001
            self._failed(event, exc)
            return
        if record is not None:
            self._keep(record)

    def _keep(self, record: PositionRecord) -> None:
        self.core.batch.positions[(record.account, record.symbol)] = record

    def _failed(self, event: OrderEvent, exc: Exception) -> None:
        order = event.order
        text = f"position keeper failed on {type(event).__name__}: {exc!r}"
        log.error("%s (order %s)", text, order.order_id)
        self.core.journal_event("error", order.order_id, order.session, "", text)
