"""What the core is told by the configuration file (``oms.bootstrap.core_settings``)."""

from __future__ import annotations

from pathlib import Path

from oms.bootstrap import core_settings
from oms.config import parse_config_text

CONFIG = """
[oms]
status_query_batch = 20
status_query_interval = 0.5

[[upstream]]
target_comp_id = "CLIENT1"
port = 9001
reset_on_logon = {upstream_reset}

[[brokers]]
name = "SIM"
target_comp_id = "BROKER1"
port = 9002
reset_on_logon = {broker_reset}
"""


def test_sessions_configured_to_reset_at_logon_include_brokers(tmp_path: Path):
    # Arrange: #16: a broker that resets at logon resends nothing from before it
    config = parse_config_text(CONFIG.format(upstream_reset="false", broker_reset="true"),
                               tmp_path)

    # Act
    settings = core_settings(config)

    # Assert
    assert settings.reset_sessions == frozenset({"FIX.4.4:OMS->BROKER1"})
    assert (settings.status_query_batch, settings.status_query_interval) == (20, 0.5)


def test_status_queries_are_paced_100_per_tenth_of_a_second_unless_told(tmp_path: Path):
    # Arrange
    config = parse_config_text(CONFIG.format(upstream_reset="true", broker_reset="false")
                               .replace("status_query_batch = 20\n", "")
                               .replace("status_query_interval = 0.5\n", ""), tmp_path)

    # Act
    settings = core_settings(config)

    # Assert
    assert settings.reset_sessions == frozenset({"FIX.4.4:OMS->CLIENT1"})
    assert (settings.status_query_batch, settings.status_query_interval) == (100, 0.1)
