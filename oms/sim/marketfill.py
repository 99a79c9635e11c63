"""The broker simulator's prices when it reads a market (``oms sim broker --market``).

Pure functions, no FIX and no clock, so unit tests call them directly:

* a marketable order (a market order, or a limit at or through the opposite touch) fills at
  the touch, a buy at the ask and a sell at the bid, worsened by ``impact_bps`` and rounded
  to the nearest tick (0.01), never worse than its limit;
* a limit order that is not marketable rests; it is reached when a trade prints at or
  through its limit, or when the opposite touch comes to it, and then fills at its limit;
* with no quote for the symbol yet, nothing can be decided: the order waits for the first.

What it does not model: queue position, sizes at the touch (any quantity fills at the top),
or the order's own effect on the market beyond the impact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from oms.marketdata.port import Quote

TICK = Decimal("0.01")
BPS = Decimal(10_000)

Arrival = Literal["wait", "marketable", "rest"]


def is_buy(side: str) -> bool:
    """FIX Side (54): 1 Buy, 3 BuyMinus, D..; everything else here sells (2, 5, 6...)."""
    return side in ("1", "3")


def is_limit(ord_type: str) -> bool:
    return ord_type in ("2", "4")  # Limit, StopLimit (a stop is treated as triggered)


def touch(side: str, quote: Quote | None) -> Decimal | None:
    """The price a marketable order of ``side`` trades against: the ask for a buy, the bid
    for a sell (None: that side of the book is empty or there is no quote)."""
    if quote is None:
        return None
    return quote.ask if is_buy(side) else quote.bid


def impacted(side: str, px: Decimal, impact_bps: Decimal, tick: Decimal = TICK) -> Decimal:
    """``px`` worsened by ``impact_bps`` for the side (a buy pays more, a sell gets less),
    rounded to the nearest ``tick``."""
    factor = impact_bps / BPS
    moved = px * (1 + factor) if is_buy(side) else px * (1 - factor)
    return moved.quantize(tick, rounding=ROUND_HALF_UP)


def marketable(side: str, ord_type: str, limit: Decimal | None, quote: Quote | None) -> bool:
    """Can the order trade now against the quote: a market order when the opposite side
    is there, a limit when it is at or through that side's price."""
    price = touch(side, quote)
    if price is None:
        return False
    if not is_limit(ord_type) or limit is None:
        return True
    return limit >= price if is_buy(side) else limit <= price


def on_arrival(side: str, ord_type: str, limit: Decimal | None, quote: Quote | None) -> Arrival:
    """What an order does on arrival: wait for a first quote, trade now, or rest."""
    if touch(side, quote) is None:
        return "wait"
    return "marketable" if marketable(side, ord_type, limit, quote) else "rest"


def fill_price(side: str, ord_type: str, limit: Decimal | None, quote: Quote | None,
               impact_bps: Decimal, tick: Decimal = TICK) -> Decimal | None:
    """The price of a fill of a marketable order now: the touch with impact, capped at
    the limit (None: no opposite side to trade against)."""
    price = touch(side, quote)
    if price is None:
        return None
    px = impacted(side, price, impact_bps, tick)
    if is_limit(ord_type) and limit is not None:
        px = min(px, limit) if is_buy(side) else max(px, limit)
    return px


def reached(side: str, limit: Decimal, quote: Quote | None = None,
            trade_px: Decimal | None = None) -> bool:
    """Has the market come to a resting limit: a trade printed at or through it, or the
    opposite touch is at or through it."""
    buy = is_buy(side)
    if trade_px is not None and (trade_px <= limit if buy else trade_px >= limit):
        return True
    price = touch(side, quote)
    return price is not None and (price <= limit if buy else price >= limit)
