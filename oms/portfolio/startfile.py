"""A day's start from a CSV file (#21, ``oms positions load FILE --date D``).

One line per position, ``account,symbol,qty,avg_cost`` (qty signed: negative is short;
avg_cost the price the open quantity cost, per share), and one per account's cash,
``account,CASH,amount,``; a header line ``account,symbol,qty,avg_cost``, blank lines and
``#`` comments are allowed. Nothing is written here: the caller stores what it returns.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

CASH = "CASH"
HEADER = ["account", "symbol", "qty", "avg_cost"]


class StartFileError(ValueError):
    """A start-of-day file line that cannot be read; the message names file and line."""


def _number(text: str, what: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise StartFileError(f"{where}: {what} {text!r} is not a number") from None
    if not value.is_finite():
        raise StartFileError(f"{where}: {what} {text!r} is not a finite number")
    return value


def read_start_file(path: str | Path) -> tuple[list[tuple[str, str, Decimal, Decimal]],
                                               list[tuple[str, Decimal]]]:
    """(positions: account, symbol, qty, cost; cash: account, amount) of the file."""
    held: list[tuple[str, str, Decimal, Decimal]] = []
    cash: list[tuple[str, Decimal]] = []
    seen: dict[tuple[str, str], int] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = [part.strip() for part in text.split(",")]
            if [p.lower() for p in parts] == HEADER:
                continue
            where = f"{path}:{number}"
            if len(parts) not in (3, 4) or not parts[0] or not parts[1]:
                raise StartFileError(f"{where}: expected 'account,symbol,qty,avg_cost' or "
                                     f"'account,CASH,amount', got {text!r}")
            account, symbol = parts[0], parts[1]
            if (account, symbol) in seen:
                raise StartFileError(f"{where}: {account} {symbol} again (first on line "
                                     f"{seen[(account, symbol)]})")
            seen[(account, symbol)] = number
            if symbol == CASH:
                cash.append((account, _number(parts[2], "cash", where)))
                continue
            qty = _number(parts[2], "qty", where)
            if len(parts) < 4 or not parts[3]:
                if qty:
                    raise StartFileError(f"{where}: {account} {symbol} holds {qty} without "
                                         f"an avg_cost")
                continue
            avg_cost = _number(parts[3], "avg_cost", where)
            if avg_cost <= 0:
                raise StartFileError(f"{where}: avg_cost must be positive, not {avg_cost}")
            if qty:
                held.append((account, symbol, qty, qty * avg_cost))
    return held, cash
