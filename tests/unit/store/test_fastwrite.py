"""The journal's fast path, the parts that need no database: chunking, amount and timestamp
text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.store.fastwrite import _amount_text, _PgTime, _SqliteTime, chunk_sizes


@pytest.mark.parametrize(("count", "sizes"), [
    (0, []), (1, [1]), (15, [15]), (16, [16]), (17, [16, 1]), (64, [64]),
    (65, [64, 1]), (100, [64, 16, 16, 4]), (129, [64, 64, 1]),
])
def test_sqlite_rows_go_in_as_few_statements_as_the_chunk_sizes_allow(
        count: int, sizes: list[int]) -> None:
    assert chunk_sizes(count) == sizes
    assert sum(sizes) == count


def test_timestamps_alternating_between_two_instants_each_keep_their_own_text() -> None:
    # an order row carries created_at and updated_at: two instants, one after the other
    # Arrange
    created = datetime(2026, 12, 1, 14, 30, 0, 123456, tzinfo=UTC)
    updated = created + timedelta(seconds=2, microseconds=-123456)  # .000000: SQLite's form
    sqlite_text, pg_text = _SqliteTime(), _PgTime()

    # Act
    texts = [(sqlite_text(value), pg_text(value)) for value in (created, updated) * 3]

    # Assert
    assert texts == [("2026-12-01 14:30:00.123456", "2026-12-01T14:30:00.123456+00:00"),
                     ("2026-12-01 14:30:02.000000", "2026-12-01T14:30:02+00:00")] * 3


def test_the_same_instant_in_another_zone_and_a_naive_utc_time_give_the_utc_text() -> None:
    # Arrange
    sqlite_text = _SqliteTime()
    aware = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    elsewhere = aware.astimezone(timezone(timedelta(hours=-5)))
    naive = aware.replace(tzinfo=None)  # the OMS's convention: naive is UTC

    # Act
    texts = [sqlite_text(value) for value in (aware, elsewhere, naive, None)]

    # Assert
    assert texts == ["2026-12-01 14:30:00.000000"] * 3 + [None]


def test_the_kept_conversions_start_again_past_their_limit_and_stay_right() -> None:
    # Arrange
    sqlite_text = _SqliteTime()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    instants = [start + timedelta(milliseconds=n) for n in range(_SqliteTime.MAX_KEPT + 10)]

    # Act
    texts = [sqlite_text(value) for value in instants]
    again = sqlite_text(instants[0])

    # Assert
    assert len(sqlite_text._texts) <= _SqliteTime.MAX_KEPT
    assert texts[-1] == "2026-12-01 00:00:04.105000"
    assert again == "2026-12-01 00:00:00.000000"


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_amount_text_is_the_plain_decimal_text_of_any_finite_value(value: Decimal) -> None:
    assert _amount_text(value) == format(value, "f")


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), 10.25, 3])
def test_amount_text_refuses_what_is_not_a_finite_decimal(value: object) -> None:
    with pytest.raises(TypeError):
        _amount_text(value)  # type: ignore[arg-type]
