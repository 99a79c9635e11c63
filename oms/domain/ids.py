"""Identifier generation: OrderIDs, ExecIDs and child ClOrdIDs unique across restarts.

Each generator starts from a prefix made of the process start time in milliseconds
(base 36), so two runs of the server never hand out the same identifier, and counts up from
there. Not thread-safe: only the core thread generates identifiers.
"""

from __future__ import annotations

import time

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("base36 takes a non-negative integer")
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(_DIGITS[rest])
    return "".join(reversed(out))


class IdGenerator:
    """Hands out ``<kind><epoch-ms base36>-<n>`` identifiers."""

    def __init__(self, kind: str, epoch_ms: int | None = None) -> None:
        stamp = epoch_ms if epoch_ms is not None else time.time_ns() // 1_000_000
        self._prefix = f"{kind}{base36(stamp)}-"
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return f"{self._prefix}{self._next}"


class Ids:
    """The identifiers the core needs, sharing one start stamp."""

    def __init__(self, epoch_ms: int | None = None) -> None:
        stamp = epoch_ms if epoch_ms is not None else time.time_ns() // 1_000_000
        self.order_id = IdGenerator("O", stamp)
        self.exec_id = IdGenerator("E", stamp)
        self.child_cl_ord_id = IdGenerator("C", stamp)
