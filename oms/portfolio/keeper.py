"""The position keeper (#21): the core's fills into the ledger, rows for the journal.

``PositionKeeper`` is the ``PositionKeeper`` port of the core (``oms.app.ports``): the core's
subscriber (``oms.app.positions``) hands it every fill, bust and correction on the core
thread, and puts the row it returns into the same commit. It keeps, besides the ledger
(``oms.portfolio.ledger``), what a row carries that the ledger does not: the cash each
position's trades moved and the count of its trades.

A fill's fee is what the broker's report says (Commission, 12, read by CommType, 13: per
unit, percent of the fill's value, or absolute), else the broker's schedule (per share, basis
points of the value, a minimum), else nothing. A correction keeps the fee of the fill it
corrects. An order with no Account (1) books to ``default_account``.

At start, and for ``oms positions verify``, a keeper is rebuilt from the day's start and the
fills, busts and corrections stored since, in booking order (``replay``): the same calls
the core made, so a rebuilt keeper holds the same rows as the one that ran.

No I/O here, and nothing reads the market: marks are the caller's (``oms.portfolio.marks``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from oms.app.records import BookedExecution, PositionRecord, PositionStart
from oms.portfolio.ledger import PositionLedger, Trade

ZERO = Decimal(0)
HUNDRED = Decimal(100)
BPS = Decimal(10_000)
# FIX Side (54): which way a fill moves the position
_SIGNS = {"1": 1, "3": 1, "2": -1, "4": -1, "5": -1, "6": -1}
# CommType (13): per unit, percent of the value, absolute (4 and 5 are percentages with a
# waiver; 6 is points per unit)
_PER_UNIT, _PERCENT = frozenset({"1", "6"}), frozenset({"2", "4", "5"})


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A broker's commission for a fill whose report gives none."""

    per_share: Decimal = ZERO
    bps: Decimal = ZERO
    minimum: Decimal = ZERO

    def fee(self, qty: Decimal, px: Decimal) -> Decimal:
        fee = self.per_share * qty + self.bps * qty * px / BPS
        return max(fee, self.minimum) if fee or self.minimum else ZERO


def reported_fee(commission: Decimal, comm_type: str, qty: Decimal, px: Decimal) -> Decimal:
    """The fee a report's Commission (12) and CommType (13) say, for a fill of qty at px."""
    if comm_type in _PER_UNIT:
        return commission * qty
    if comm_type in _PERCENT:
        return commission * qty * px / HUNDRED
    return commission


class PositionKeeper:
    """Positions and cash of every account (see the module's docstring)."""

    def __init__(self, *, default_account: str = "",
                 schedules: Mapping[str, FeeSchedule] | None = None) -> None:
        self.default_account = default_account
        self.schedules = dict(schedules or {})
        self.ledger = PositionLedger()
        self.trade_date: str | None = None  # the day's start loaded, if one was
        self._start_cash: dict[str, Decimal] = {}
        self._rows: dict[tuple[str, str], PositionRecord] = {}
        self._cash_flow: dict[tuple[str, str], Decimal] = {}
        self._keys: dict[str, str] = {}  # a correction's ExecID -> the fill's ledger key

    # --- start ---------------------------------------------------------------------------
    def start(self, start: PositionStart, at: datetime) -> None:
        """The day's start: positions and cash (before any fill)."""
        self.trade_date = start.trade_date
        self._start_cash = dict(start.cash)
        for account, symbol, qty, cost in start.positions:
            self.ledger.set_start(account, symbol, qty, cost)
            self.row(account, symbol, at)
        for account, cash in start.cash:
            self.ledger.set_start_cash(account, cash)

    def replay(self, booked: Iterable[BookedExecution], at: datetime) -> list[str]:
        """Fold the stored fills, busts and corrections in booking order (every position's
        row made at the end); what could not be applied, in words (a bust of a fill before
        the day's start, say)."""
        problems: list[str] = []
        for execution in booked:
            try:
                if execution.kind == "fill":
                    self._book(execution.exec_id, execution.account, execution.symbol,
                               execution.side, execution.qty, execution.px, execution.fee)
                elif execution.kind == "bust":
                    if self.bust(execution.ref_exec_id) is None:
                        problems.append(f"bust {execution.exec_id} of fill "
                                        f"{execution.ref_exec_id}, which is not booked")
                elif self.correct(execution.ref_exec_id, execution.exec_id, execution.qty,
                                  execution.px) is None:
                    problems.append(f"correction {execution.exec_id} of fill "
                                    f"{execution.ref_exec_id}, which is not booked")
            except ValueError as exc:
                problems.append(f"{execution.kind} {execution.exec_id}: {exc}")
        for position in self.ledger.positions():
            self.row(position.account, position.symbol, at)
        return problems

    # --- the port (the core thread) ------------------------------------------------------
    def fill(self, exec_id: str, account: str, symbol: str, side: str, qty: Decimal,
             px: Decimal, broker: str, commission: Decimal | None, comm_type: str
             ) -> tuple[tuple[str, str], Decimal]:
        if commission is not None:
            fee = reported_fee(commission, comm_type, qty, px)
        else:
            schedule = self.schedules.get(broker)
            fee = schedule.fee(qty, px) if schedule is not None else ZERO
        return self._book(exec_id, account, symbol, side, qty, px, fee), fee

    def bust(self, exec_id: str) -> tuple[str, str] | None:
        key = self._keys.get(exec_id, exec_id)
        where = self.ledger.position_of(key)
        if where is None:
            return None
        self.ledger.bust(key)
        self._cash_flow[where] = self._flow(where)
        return where

    def correct(self, exec_id: str, new_exec_id: str, qty: Decimal, px: Decimal
                ) -> tuple[str, str] | None:
        key = self._keys.get(exec_id, exec_id)
        where = self.ledger.position_of(key)
        if where is None:
            return None
        self.ledger.correct(key, qty, px)
        self._keys[new_exec_id] = key
        self._cash_flow[where] = self._flow(where)
        return where

    def row(self, account: str, symbol: str, at: datetime) -> PositionRecord:
        """The position's row as it is now (kept for readers too)."""
        where = (account, symbol)
        position = self.ledger.position(account, symbol)
        assert position is not None
        record = PositionRecord(
            account, symbol, position.qty, position.cost, position.realized_pnl,
            position.fees, self._cash_flow.get(where, ZERO), position.start_qty,
            position.start_cost, self.ledger.trade_count(account, symbol), at)
        self._rows[where] = record
        return record

    # --- reads (any thread: whole rows, copied) ------------------------------------------
    def rows(self, account: str | None = None) -> list[PositionRecord]:
        """Every position's row (flat ones too: they hold P&L), by account and symbol, as
        of the last batch taken."""
        rows = list(self._rows.copy().values())
        return sorted((r for r in rows if account is None or r.account == account),
                      key=lambda r: (r.account, r.symbol))

    def accounts(self) -> list[str]:
        return self.ledger.accounts()

    def cash(self, account: str) -> Decimal:
        return self.ledger.cash(account)

    def start_cash(self) -> dict[str, Decimal]:
        """Each account's cash at the day's start (loaded; accounts without: none)."""
        return dict(self._start_cash)

    # --- inside --------------------------------------------------------------------------
    def _book(self, exec_id: str, account: str, symbol: str, side: str, qty: Decimal,
              px: Decimal, fee: Decimal) -> tuple[str, str]:
        sign = _SIGNS.get(side)
        if sign is None:
            raise ValueError(f"fill {exec_id}: Side {side!r} is neither a buy nor a sell")
        account = account or self.default_account
        where = (account, symbol)
        self.ledger.book(Trade(exec_id, account, symbol, sign, qty, px, fee))
        flow = self._cash_flow.get(where, ZERO)
        self._cash_flow[where] = flow - qty * px if sign > 0 else flow + qty * px
        return where

    def _flow(self, where: tuple[str, str]) -> Decimal:
        return sum((-trade.signed_qty * trade.px for trade in self.ledger.trades(*where)),
                   ZERO)
