"""Identifiers: base 36 stamps and generators that never hand out the same id twice."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from oms.domain.ids import IdGenerator, Ids, base36


@pytest.mark.parametrize(
    ("number", "digits"),
    [(0, "0"), (9, "9"), (10, "A"), (35, "Z"), (36, "10"), (1295, "ZZ"), (1296, "100")],
)
def test_base36_digits(number, digits):
    assert base36(number) == digits


@given(number=st.integers(min_value=0, max_value=2**64))
def test_base36_reads_back_as_the_same_number(number):
    # Act
    digits = base36(number)

    # Assert
    assert int(digits, 36) == number
    assert digits == digits.upper()


def test_base36_refuses_negative_numbers():
    with pytest.raises(ValueError, match="non-negative"):
        base36(-1)


def test_generator_counts_up_after_kind_and_stamp():
    # Arrange
    generate = IdGenerator("O", epoch_ms=1296)

    # Act
    ids = [generate() for _ in range(3)]

    # Assert
    assert ids == ["O100-1", "O100-2", "O100-3"]


def test_generator_never_repeats_an_id():
    # Arrange
    generate = IdGenerator("E", epoch_ms=1_700_000_000_000)

    # Act
    ids = [generate() for _ in range(10_000)]

    # Assert
    assert len(set(ids)) == len(ids)


@given(
    first=st.integers(min_value=0, max_value=2**48),
    second=st.integers(min_value=0, max_value=2**48),
    count=st.integers(min_value=1, max_value=50),
)
def test_generators_started_at_different_times_never_collide(first, second, count):
    # Arrange
    if first == second:
        second += 1
    one, other = IdGenerator("C", epoch_ms=first), IdGenerator("C", epoch_ms=second)

    # Act
    ids = [one() for _ in range(count)] + [other() for _ in range(count)]

    # Assert
    assert len(set(ids)) == len(ids)


def test_ids_share_one_stamp_and_differ_by_kind():
    # Arrange
    ids = Ids(epoch_ms=1_700_000_000_000)
    stamp = base36(1_700_000_000_000)

    # Act
    issued = [ids.order_id(), ids.exec_id(), ids.child_cl_ord_id()]

    # Assert
    assert issued == [f"O{stamp}-1", f"E{stamp}-1", f"C{stamp}-1"]


def test_generator_without_a_stamp_uses_the_clock_in_milliseconds():
    # Act
    order_id = IdGenerator("O")()

    # Assert
    kind, stamp, counter = order_id[0], order_id[1:].split("-")[0], order_id.split("-")[1]
    assert (kind, counter) == ("O", "1")
    assert int(stamp, 36) > 1_577_836_800_000  # after 2020-01-01
