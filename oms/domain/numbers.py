"""Decimal helpers of the order path: quantities and prices as text, and their size."""

from __future__ import annotations

import sys
from decimal import Decimal, Inexact, localcontext

from oms.domain.order import AVG_PX_QUANTUM, plain


def fmt(value: Decimal) -> str:
    """A Decimal as FIX wants it: plain digits, never an exponent. Digits are kept as
    given (100.50 stays 100.50): every value here was parsed from FIX text or computed
    from such values, so ``str`` is exact and only rarely needs the slower ``format``."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def plain_digits(value: Decimal) -> int:
    """How many digits ``value`` has written out in plain notation: its integer digits
    (none when it is below 1) and its fraction digits as given. 1E+30 has 31,
    0.0000000000000001 has 16, 100.50 has 5 (#16: the limit of ``max_digits``)."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity (the FIX layer refuses them first)
        return sys.maxsize
    if exponent >= 0:
        return 1 if digits == (0,) else len(digits) + exponent
    return max(len(digits), -exponent)


def too_many_digits(value: Decimal, limit: int) -> bool:
    """``plain_digits(value) > limit``, without the digit tuple for an ordinary value.

    #16: Decimal computes with 28 significant digits, so a value beyond that is rounded
    (CumQty + LeavesQty no longer make OrderQty). ``str`` writes every digit counted as a
    character (and an exponent as "E"), so a short text without one is within the limit:
    one ``str`` for the values the FIX path carries every time, the tuple only for the rest.
    """
    text = str(value)
    if len(text) <= limit and "E" not in text:
        return False
    return plain_digits(value) > limit


def inferred_price(notional: Decimal, qty: Decimal) -> Decimal:
    """The price of ``qty`` whose value is ``notional`` (#16: the fill a status answer
    implies): exact when the division terminates, else rounded as AvgPx is."""
    with localcontext() as context:
        context.clear_flags()
        price = notional / qty
        inexact = context.flags[Inexact]
    return plain(price.quantize(AVG_PX_QUANTUM) if inexact else price)
