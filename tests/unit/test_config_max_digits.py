"""#16: the [oms] setting max_digits, from the file to the core's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from oms.bootstrap import configured_core
from oms.config import parse_config_text
from oms.risk.checks import FieldChecks
from tests.unit.app.harness import FakeJournal, FakeSender

BROKER = """
[[brokers]]
name = "SIM"
target_comp_id = "BROKER1"
port = 5002
"""


def _checks(config):  # type: ignore[no-untyped-def]
    """The core's risk gate, as the server wires it from ``config``."""
    risk = configured_core(config, FakeJournal(), FakeSender()).risk
    assert isinstance(risk, FieldChecks)
    return risk


def test_max_digits_defaults_to_15(tmp_path: Path):
    # Act
    config = parse_config_text(BROKER, tmp_path)

    # Assert
    assert _checks(config).max_digits == 15


def test_max_digits_from_the_file_reaches_the_core(tmp_path: Path):
    # Act
    config = parse_config_text("[oms]\nmax_digits = 12\n" + BROKER, tmp_path)

    # Assert
    assert _checks(config).max_digits == 12


@pytest.mark.parametrize("value", [0, 29], ids=["zero", "beyond Decimal's 28 digits"])
def test_max_digits_outside_1_to_28_is_refused(tmp_path: Path, value: int):
    # Act / Assert
    with pytest.raises(ValidationError, match="max_digits"):
        parse_config_text(f"[oms]\nmax_digits = {value}\n" + BROKER, tmp_path)
