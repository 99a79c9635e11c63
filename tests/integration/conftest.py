"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.stack import Stack


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Stack]]:
    """Makes ``Stack``s on ``tmp_path`` and ``database_url`` (``stack(**options)``); every one
    made is stopped at the end of the test."""
    stacks: list[Stack] = []

    def make(**kwargs: Any) -> Stack:
        built = Stack(tmp_path, database_url, **kwargs)
        stacks.append(built)
        return built

    yield make
    for built in stacks:
        built.stop()
