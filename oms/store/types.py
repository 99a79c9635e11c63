"""Column types that keep money exact and time in UTC on SQLite and PostgreSQL.

``Amount`` stores ``decimal.Decimal`` without ever going through float: unconstrained
``NUMERIC`` on PostgreSQL (exact at any scale, so a notional with 12 decimals is not rounded
the way ``NUMERIC(28,10)`` would round it), ``TEXT`` on SQLite (whose ``NUMERIC`` affinity
converts to a binary float). Values come back as ``Decimal`` equal to what was written, with
the same digits. Floats, NaN and infinities are refused: a float in a money column is a bug.
On SQLite the column sorts and compares as text, so compare amounts in Python, not in SQL.

``UtcDateTime`` stores timezone-aware datetimes in UTC (``timestamptz`` on PostgreSQL, ISO text
on SQLite) and always returns aware UTC datetimes. A naive datetime is taken to be UTC already,
the convention inside the OMS.

The migrations import these types, so their storage must never change meaning; add a new
type instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

UTC = UTC


def _to_decimal(value: Any) -> Decimal:
    if type(value) is Decimal:
        decimal = value
    elif isinstance(value, (int, str, Decimal)) and not isinstance(value, bool):
        decimal = Decimal(value)
    else:
        raise TypeError(
            f"amount columns take Decimal, int or str, not {type(value).__name__} ({value!r}); "
            "a float would lose precision"
        )
    if not decimal.is_finite():
        raise ValueError(f"amount columns take finite numbers, not {decimal}")
    return decimal


class Amount(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC on PostgreSQL, TEXT on SQLite; never a float."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        if dialect.name == "sqlite":

            def to_text(value: Any) -> str | None:
                return None if value is None else format(_to_decimal(value), "f")

            return to_text

        def to_decimal(value: Any) -> Decimal | None:
            return None if value is None else _to_decimal(value)

        return to_decimal

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":

            def from_text(value: Any) -> Decimal | None:
                return None if value is None else Decimal(value)

            return from_text
        return None  # psycopg already returns Decimal for NUMERIC

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        return "NULL" if value is None else format(_to_decimal(value), "f")

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and returned timezone-aware in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"timestamp columns take datetime, not {type(value).__name__}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        elif value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)  # SQLite stores the UTC wall clock as text
        return value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # SQLAlchemy's SQLite format "YYYY-MM-DD HH:MM:SS.ffffff" is ISO 8601; the C
            # parser is several times faster than the dialect's regular expression
            parse = datetime.fromisoformat

            def from_text(value: Any) -> datetime | None:
                if value is None:
                    return None
                try:
                    return parse(value + "+00:00")  # 8x faster than .replace(tzinfo=UTC)
                except ValueError:  # text written by another tool, with its own offset
                    parsed = parse(value)
                    return (
                        parsed.replace(tzinfo=UTC)
                        if parsed.tzinfo is None
                        else (parsed.astimezone(UTC))
                    )

            return from_text
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


def big_id() -> TypeEngine[int]:
    """An auto-increment id: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
