"""Scripted FIX conversations (tests/acceptance/scenarios/*.fix) played by a raw simplefix
client against the OMS and the broker simulator over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.fixscript import RawFixBroker, RawFixClient, Scenario, play
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.fix"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(tmp_path: Path, path: Path):
    # Arrange
    scenario = Scenario.load(path)
    scripted = scenario.broker.get("script", None) is not None
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}", upstream_reset=True,
                  broker_options={} if scripted else dict(scenario.broker))
    client = broker = None
    try:
        if scripted:
            # a broker of nobody's making: the OMS logs on to a raw acceptor (fixscript)
            broker = RawFixBroker(stack.broker_port, "BROKER1", "OMS")
            stack.start_oms(before_logon=broker.accept_logon)
        else:
            stack.start_broker()
            stack.start_oms()
        client = RawFixClient("127.0.0.1", stack.upstream_port, "CLIENT1", "OMS")
        logon = client.logon()
        assert logon["35"] == "A", logon

        # Act / Assert
        play(scenario, client, broker)
    finally:
        if client is not None:
            client.logout()
        stack.stop()
        if broker is not None:
            broker.close()
