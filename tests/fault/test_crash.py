"""The crash suite's short form: ``oms serve`` SIGKILLed 10 times under a stream of orders
with replaces and cancels, on SQLite and PostgreSQL; then the client's record, the blotter
and the broker's book must agree order by order (tests/fault/harness.py says what is
checked); and again with a broker session that resets sequence numbers at every logon.
The long form is ``python -m tests.fault`` (see README, Development).

Deselect with ``-m "not fault"``; it is also ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault.harness import CrashOptions, run_crash_suite

pytestmark = [pytest.mark.slow, pytest.mark.fault]


def test_kill_9_under_a_backlog_loses_no_message(tmp_path: Path, database_url: str) -> None:
    # Arrange: 3,000 orders at 300/s, 10% replaced then canceled, 5% canceled
    options = CrashOptions(kills=10, orders=3000, rate=300.0, seed=1)

    # Act
    report = run_crash_suite(tmp_path, database_url, options)
    print(report.ledger_line())

    # Assert: the three ledgers agree; on failure the first disagreeing orders, three views
    assert report.kills == 10
    assert report.failures() == [], report.describe()


def test_kill_9_with_a_broker_that_resets_at_logon_loses_no_fill(tmp_path: Path,
                                                                 database_url: str) -> None:
    # Arrange: the same stream; the broker session restarts sequence numbers at every
    # logon, so neither side resends what the other missed while the OMS was down (#16)
    options = CrashOptions(kills=10, orders=3000, rate=300.0, seed=1, broker_reset=True)

    # Act
    report = run_crash_suite(tmp_path, database_url, options)
    print(report.ledger_line())

    # Assert: the broker's fills of the outages came back as fills inferred from its
    # status answers, adding up exactly; everything else agrees as without a reset
    assert report.kills == 10
    assert report.inferred > 0
    assert report.failures() == [], report.describe()
