"""#19: ``oms sessions`` and its actions on a running server, through the real CLI:
logout keeps a broker session out (no reconnect) until logon; reset-seq logs it on again
with both sides back at MsgSeqNum 1; a name it does not know is an error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from oms.config import config_to_toml
from tests.integration.stack import Stack, wait_until

BROKER = "FIX.4.4:OMS->BROKER1"


def oms(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oms", "sessions", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=60)


def test_an_operator_logs_a_broker_session_out_on_and_resets_its_sequence_numbers(
        tmp_path: Path) -> None:
    # Arrange
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    config = tmp_path / "oms.toml"
    config.write_text(config_to_toml(stack.config))
    try:
        stack.start_broker()
        server = stack.start_oms()
        app = server.application
        assert app is not None
        client = stack.client()
        for _ in range(3):
            client.send_order(symbol="ACME", side="buy", qty=10, ord_type="1")
        wait_until(lambda: (app.sequence_numbers(BROKER) or (0, 0))[0] > 4)

        # Act
        listed = oms(config, "--json")
        out = oms(config, "logout", "SIM")
        wait_until(lambda: not app.is_logged_on(BROKER))
        time.sleep(2.5)  # more than its reconnect interval (1 s)
        stayed_out = not app.is_logged_on(BROKER)
        back = oms(config, "logon", "OMS->BROKER1")
        wait_until(lambda: app.is_logged_on(BROKER))
        before_reset = app.sequence_numbers(BROKER)
        reset = oms(config, "reset-seq", BROKER)
        wait_until(lambda: not app.is_logged_on(BROKER))
        wait_until(lambda: app.is_logged_on(BROKER))
        after_reset = app.sequence_numbers(BROKER)
        unknown = oms(config, "logout", "NOPE")
    finally:
        stack.stop()

    # Assert
    assert listed.returncode == 0, listed.stderr
    broker = next(s for s in json.loads(listed.stdout) if s["session"] == BROKER)
    assert (broker["name"], broker["broker"], broker["state"]) == ("SIM", "SIM", "logged on")
    assert (out.returncode, back.returncode, reset.returncode) == (0, 0, 0), \
        (out.stderr, back.stderr, reset.stderr)
    assert stayed_out
    assert before_reset is not None and before_reset[0] > 4
    assert after_reset is not None and after_reset[0] <= 3 and after_reset[1] <= 3, after_reset
    assert unknown.returncode != 0 and "no session 'NOPE'" in unknown.stderr + unknown.stdout
