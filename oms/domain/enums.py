"""FIX 4.4 enumerations used by the domain; each value is the FIX wire value."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class OrdStatus(StrEnum):
    """OrdStatus: where an order stands, FIX 4.4 Volume 4 Appendix D."""

    NEW = "0"  # accepted, nothing filled yet
    PARTIALLY_FILLED = "1"  # some quantity filled, the rest still working
    FILLED = "2"  # fully filled; terminal
    DONE_FOR_DAY = "3"  # no more fills today; still has leaves on a GTC basis
    CANCELED = "4"  # canceled; terminal
    PENDING_CANCEL = "6"  # a cancel request is outstanding
    STOPPED = "7"  # guaranteed a price, not yet executed (reported by brokers only)
    REJECTED = "8"  # refused, by us or by the broker; terminal
    SUSPENDED = "9"  # not working, may be reinstated (reported by brokers only)
    PENDING_NEW = "A"  # received, not yet acknowledged by the broker
    EXPIRED = "C"  # ended by its time in force; terminal
    PENDING_REPLACE = "E"  # a cancel/replace request is outstanding

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_pending_request(self) -> bool:
        return self in (OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE)


TERMINAL_STATUSES = frozenset(
    {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED}
)


class ExecType(StrEnum):
    """ExecType: what an ExecutionReport reports."""

    NEW = "0"  # the order was accepted
    DONE_FOR_DAY = "3"  # the order is done for the day
    CANCELED = "4"  # the order was canceled
    REPLACED = "5"  # the order was replaced
    PENDING_CANCEL = "6"  # a cancel request was received
    STOPPED = "7"  # the order was stopped
    REJECTED = "8"  # the order was rejected
    SUSPENDED = "9"  # the order was suspended
    PENDING_NEW = "A"  # the order was received, not yet accepted
    CALCULATED = "B"  # the order was priced
    EXPIRED = "C"  # the order expired
    RESTATED = "D"  # the sell side changed the order on its own
    PENDING_REPLACE = "E"  # a cancel/replace request was received
    TRADE = "F"  # a fill or partial fill
    TRADE_CORRECT = "G"  # a previous fill was corrected
    TRADE_CANCEL = "H"  # a previous fill was busted
    ORDER_STATUS = "I"  # answer to an OrderStatusRequest


class Side(StrEnum):
    """Side."""

    BUY = "1"
    SELL = "2"
    BUY_MINUS = "3"
    SELL_PLUS = "4"
    SELL_SHORT = "5"
    SELL_SHORT_EXEMPT = "6"
    CROSS = "8"


class OrdType(StrEnum):
    """OrdType; stop and stop-limit pass through to the broker."""

    MARKET = "1"
    LIMIT = "2"
    STOP = "3"
    STOP_LIMIT = "4"

    @property
    def needs_price(self) -> bool:
        return self in (OrdType.LIMIT, OrdType.STOP_LIMIT)

    @property
    def needs_stop_px(self) -> bool:
        return self in (OrdType.STOP, OrdType.STOP_LIMIT)


class TimeInForce(StrEnum):
    """TimeInForce; absent on the wire means DAY."""

    DAY = "0"
    GTC = "1"
    IOC = "3"
    FOK = "4"


class CxlRejReason(StrEnum):
    """CxlRejReason."""

    TOO_LATE_TO_CANCEL = "0"
    UNKNOWN_ORDER = "1"
    BROKER_OPTION = "2"
    ALREADY_PENDING = "3"  # order already in pending cancel or pending replace status
    DUPLICATE_CLORDID = "6"
    OTHER = "99"


class CxlRejResponseTo(StrEnum):
    """CxlRejResponseTo: which request an OrderCancelReject answers."""

    CANCEL = "1"
    REPLACE = "2"


class OrdRejReason(StrEnum):
    """OrdRejReason."""

    BROKER_OPTION = "0"
    UNKNOWN_SYMBOL = "1"
    EXCHANGE_CLOSED = "2"
    ORDER_EXCEEDS_LIMIT = "3"
    TOO_LATE_TO_ENTER = "4"
    UNKNOWN_ORDER = "5"
    DUPLICATE_ORDER = "6"
    INCORRECT_QUANTITY = "13"
    UNKNOWN_ACCOUNT = "15"
    OTHER = "99"


def member_or_none(enum_type, value):  # type: ignore[no-untyped-def]
    """The member of ``enum_type`` with this value, or None (a dict lookup: calling the
    class with a value runs Python code in ``enum``, and a miss raised and caught)."""
    members = _MEMBERS.get(enum_type)
    if members is None:
        members = _MEMBERS[enum_type] = {member._value_: member for member in enum_type}
    return members.get(value)


_MEMBERS: dict[type, dict[str, Any]] = {}
