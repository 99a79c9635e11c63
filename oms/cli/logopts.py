"""``--log-level`` and ``--log-format``, the same on every command that runs a process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from oms.logs import FORMATS, LEVELS, setup_logging

LOG_LEVEL = click.Choice(LEVELS, case_sensitive=False)
LOG_FORMAT = click.Choice(FORMATS, case_sensitive=False)


def log_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--log-level`` (default: the config's, else info) and ``--log-format``; an
    unknown value is a usage error (exit 2)."""
    command = click.option("--log-format", type=LOG_FORMAT, default="text", show_default=True,
                           help="text: one line per record; json: one JSON object per "
                                "line, with session and order_id when known.")(command)
    return click.option("--log-level", type=LOG_LEVEL, default=None,
                        help="debug, info, warning or error (default: the config's, "
                             "else info).")(command)


def start_logging(level: str | None, log_format: str) -> None:
    """The one logging setup (oms/logs.py); a bad level in the config exits 2 as well."""
    try:
        setup_logging(level or "info", log_format)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
