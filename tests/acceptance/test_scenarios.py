"""Scripted FIX conversations (tests/acceptance/scenarios/*.fix) played by a raw simplefix
client against the OMS and the broker simulator over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.bootstrap import OmsServer
from tests.acceptance.fixscript import RawFixBroker, RawFixClient, Scenario, play
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.fix"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(tmp_path: Path, path: Path):
    # Arrange
    scenario = Scenario.load(path)
    scripted = scenario.broker.get("script", None) is not None
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}", upstream_reset=True,
                  broker_options={} if scripted else dict(scenario.broker))
    client = broker = listener = None
    try:
        if scripted:
            # a broker of nobody's making: the OMS logs on to a raw acceptor (fixscript)
            listener = RawFixBroker.listen(stack.broker_port)
            stack.server = OmsServer(stack.config)
            stack.server.start()
            broker = RawFixBroker(listener, "BROKER1", "OMS")
            broker.accept_logon()
            wait_until(lambda: stack.server.application.is_logged_on("FIX.4.4:OMS->BROKER1"))
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
            broker.sock.close()  # again after B! is harmless
        if listener is not None:
            listener.close()
