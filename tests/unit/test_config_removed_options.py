"""[oms] options that were removed are named as such, not as unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from oms.config import load_config, parse_config_text
from oms.domain.errors import ConfigError


@pytest.mark.parametrize("value", ["thread", "inline"])
def test_a_file_that_still_chooses_the_journal_mode_is_refused_naming_the_option(
        tmp_path: Path, value: str) -> None:
    # Arrange
    path = tmp_path / "oms.toml"
    path.write_text(f'[oms]\njournal = "{value}"\n')

    # Act / Assert
    with pytest.raises(ConfigError, match=r"\[oms\] journal is no longer an option.*"
                                          r"delete the line"):
        load_config(path)


def test_the_removed_option_is_named_when_config_text_is_parsed(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(ValidationError, match="journal is no longer an option"):
        parse_config_text('[oms]\njournal = "inline"\n', tmp_path)


def test_an_unknown_option_is_still_refused(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(ValidationError, match="journl"):
        parse_config_text('[oms]\njournl = "inline"\n', tmp_path)
