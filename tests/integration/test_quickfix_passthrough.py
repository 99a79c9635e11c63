"""#18: QuickFIX settings given in oms.toml reach a real ``oms serve``'s engine.

quickfix 1.16 does not know SocketAcceptHost (it listens on every interface whatever the
file says) and ignores keys it does not know; the server must still start with it and take
a client. TimestampPrecision is one it knows, and a client can see it: the SendingTime of
the server's Logon has no fraction of a second when it is 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oms.localproc import free_port, stop_process
from tests.acceptance.fixscript import RawFixClient
from tests.integration.stack import wait_until

CONFIG = """
[oms]
database_url = "sqlite:///oms.db"
sessions_dir = "sessions"

[fix.settings]
SocketAcceptHost = "127.0.0.1"

[admin]
port = 0

[[upstream]]
target_comp_id = "CLIENT1"
port = {port}
reset_on_logon = true
settings = {{ TimestampPrecision = 0 }}
"""


def test_a_server_given_quickfix_keys_in_its_config_takes_a_client_with_them(
        tmp_path: Path) -> None:
    # Arrange
    port = free_port()
    config = tmp_path / "oms.toml"
    config.write_text(CONFIG.format(port=port))
    log = (tmp_path / "oms.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "oms", "serve", "--config", str(config)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (tmp_path / "sessions" / "admin.token").exists()
                   or server.poll() is not None, timeout=30)
        assert server.poll() is None, (tmp_path / "oms.log").read_text()

        # Act
        client = RawFixClient("127.0.0.1", port, "CLIENT1", "OMS")
        try:
            logon = client.logon()
        finally:
            client.logout()
    finally:
        stop_process(server)
        log.close()

    # Assert
    written = (tmp_path / "sessions" / "acceptor.cfg").read_text()
    assert "SocketAcceptHost=127.0.0.1" in written
    assert logon["35"] == "A"
    assert len(logon["52"]) == len("20260101-12:00:00"), logon["52"]  # no milliseconds
    assert server.returncode == 0
