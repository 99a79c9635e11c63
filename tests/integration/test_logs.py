"""#18: logs an operator can act on, from the real ``oms`` command and the real server."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from oms.cli.main import main
from oms.config import config_to_toml
from oms.localproc import stop_process
from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow

BROKER_SESSION = "FIX.4.4:OMS->BROKER1"


def oms(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oms", *args], capture_output=True, text=True,
                          timeout=timeout)


def serve(config_path: Path, log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``oms serve`` in its own process, its stdout and stderr in ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "oms", "serve", "--config", str(config_path), *args],
            stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    finally:
        stop_process(process)


def write_config(stack: Stack, **oms_overrides: object) -> Path:
    stack.oms_overrides.update(oms_overrides)
    path = stack.folder / "oms.toml"
    path.write_text(config_to_toml(stack.config))
    return path


def test_json_log_lines_parse_and_name_the_broker_that_cannot_be_reached(tmp_path: Path):
    # Arrange: a server whose broker is down
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    config_path = write_config(stack, log_level="INFO")
    log_path = tmp_path / "oms.log"

    # Act
    process = serve(config_path, log_path, "--log-format", "json")
    try:
        wait_until(lambda: "cannot connect" in log_path.read_text(), timeout=30)
    finally:
        code = stop(process)

    # Assert: every line is one JSON object; the connect failure names address and error
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert code == 0
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    serving = [line for line in lines if line["message"].startswith("OMS serving")]
    assert len(serving) == 1 and serving[0]["level"] == "INFO"
    refused = [line for line in lines if "cannot connect" in line["message"]]
    assert len(refused) == 1  # once per change of state, not once per reconnect
    assert refused[0]["level"] == "WARNING"
    assert refused[0]["session"] == BROKER_SESSION
    assert f"cannot connect to 127.0.0.1:{stack.broker_port}: " in refused[0]["message"]
    assert "Connection refused" in refused[0]["message"]
    assert lines[-1]["message"] == "OMS stopped"


@pytest.mark.parametrize("args", [
    ["serve", "--log-level", "verbose"],
    ["serve", "--log-format", "xml"],
    ["sim", "broker", "--log-level", "loud"],
])
def test_an_unknown_log_level_or_format_is_a_usage_error(tmp_path: Path, args: list[str]):
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 2
    assert "Invalid value for '--log-" in result.output


def test_a_config_with_an_unknown_log_level_is_refused(tmp_path: Path):
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    config_path = write_config(stack, log_level="VERBOSE")

    result = oms("serve", "--config", str(config_path))

    assert result.returncode == 2
    assert "unknown log level 'verbose'" in result.stderr
    assert not (tmp_path / "oms.db").exists()  # refused before anything was touched


def test_log_level_is_case_insensitive(tmp_path: Path):
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    config_path = write_config(stack)
    log_path = tmp_path / "oms.log"

    process = serve(config_path, log_path, "--log-level", "DEBUG")
    try:
        wait_until(lambda: "OMS serving" in log_path.read_text(), timeout=30)
    finally:
        code = stop(process)

    assert code == 0
    assert " DEBUG " in log_path.read_text()


def test_the_postgres_password_appears_in_no_output(tmp_path: Path,
                                                    postgres_database_url: str):
    # Arrange: the local server trusts every login, so any password connects
    from sqlalchemy import make_url

    password = "pw-18-Sekret"
    url = make_url(postgres_database_url).set(password=password)
    database_url = url.render_as_string(hide_password=False)
    wrong_port = url.set(port=1).render_as_string(hide_password=False)
    assert password in database_url
    stack = Stack(tmp_path, database_url)
    config_path = write_config(stack, log_level="DEBUG")
    log_path = tmp_path / "oms.log"

    # Act: start and stop a server, run the read commands, and fail to reach a database
    process = serve(config_path, log_path, "--database-url", database_url)
    try:
        wait_until(stack.config.admin_token_path.exists, timeout=30)
        wait_until(lambda: "OMS serving" in log_path.read_text(), timeout=30)
        reads = [
            oms("orders", "list", "--database-url", database_url),
            oms("orders", "list", "--json", "--database-url", database_url),
            oms("db", "upgrade", "--database-url", database_url),
            oms("sessions", "--config", str(config_path)),
            oms("stats", "--config", str(config_path)),
            oms("stats", "--json", "--config", str(config_path)),
            oms("orders", "list", "--database-url", wrong_port),
        ]
    finally:
        code = stop(process)
    failed_start = oms("serve", "--config", str(config_path), "--database-url", wrong_port)

    # Assert
    served = log_path.read_text()
    assert code == 0
    assert "postgresql+psycopg://postgres:***@" in served and "OMS stopped" in served
    assert all(read.returncode == 0 for read in reads[:-1]), [r.stderr for r in reads]
    assert reads[-1].returncode != 0 and failed_start.returncode != 0
    for output in [served, *(r.stdout + r.stderr for r in [*reads, failed_start])]:
        assert password not in output


def test_refused_orders_are_logged_with_their_reason_and_ids(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture):
    # Arrange: a broker that rejects every order, and symbols the OMS allows
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}",
                  broker_options={"reject_rate": 1.0}, oms_overrides={"symbols": ["IBM"]})
    caplog.set_level(logging.INFO, logger="oms.orders")
    try:
        stack.start_broker()
        stack.start_oms()
        client = stack.client()

        # Act
        denied = client.send_order(symbol="XYZ", side="buy", qty=100, ord_type="1")
        rejected = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
        wait_until(lambda: client.order(denied).status == "8"
                   and client.order(rejected).status == "8")
    finally:
        stack.stop()

    # Assert: one INFO line each, with the order's ids and the reason
    lines = {record.cl_ord_id: record for record in caplog.records  # type: ignore[attr-defined]
             if record.name == "oms.orders"}
    assert set(lines) == {denied, rejected}
    assert all(record.levelno == logging.INFO for record in lines.values())
    assert lines[denied].session == "FIX.4.4:OMS->CLIENT1"  # type: ignore[attr-defined]
    assert "denied" in lines[denied].getMessage() and "XYZ" in lines[denied].getMessage()
    assert lines[rejected].order_id == client.order(rejected).order_id  # type: ignore[attr-defined]
    assert f"rejected by {BROKER_SESSION}: simulated broker reject" in \
        lines[rejected].getMessage()


def test_a_lost_broker_is_logged_once_with_its_cause_then_why_it_cannot_reconnect(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    # Arrange: a server logged on to its broker (which reconnects every second)
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    caplog.set_level(logging.INFO)
    try:
        broker = stack.start_broker()
        stack.start_oms()

        # Act: the broker goes away; the OMS retries it for several reconnect intervals
        broker.stop()
        stack.broker = None
        wait_until(lambda: any("cannot connect" in r.getMessage() for r in caplog.records))
        time.sleep(3.5)
    finally:
        stack.stop()

    # Assert: one line for the logout, with its cause; one for why it cannot reconnect
    lines = [(r.levelno, r.getMessage()) for r in caplog.records
             if BROKER_SESSION in r.getMessage()]
    logouts = [line for line in lines if "logged out" in line[1]]
    refusals = [line for line in lines if "cannot connect" in line[1]]
    assert logouts == [(logging.WARNING, f"FIX session {BROKER_SESSION} logged out: "
                                         "the counterparty logged out: server stopping")]
    assert len(refusals) == 1 and refusals[0][0] == logging.WARNING, lines


def test_a_clean_restart_logs_no_warning(tmp_path: Path, database_url: str):
    # Arrange: orders through a real server, stopped cleanly
    stack = Stack(tmp_path, database_url)
    config_path = write_config(stack, log_level="INFO")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    try:
        stack.start_broker()
        process = serve(config_path, first_log)
        wait_until(stack.config.admin_token_path.exists, timeout=30)
        client = stack.client()
        ids = [client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
               for _ in range(5)]
        wait_until(lambda: all(client.order(i).status == "2" for i in ids))
        for each in stack.clients:
            each.stop()
        stack.clients.clear()
        assert stop(process) == 0

        # Act: start again on the same directory and database, and stop
        process = serve(config_path, second_log)
        wait_until(lambda: "FIX session FIX.4.4:OMS->BROKER1 logged on" in
                   second_log.read_text(), timeout=30)
        code = stop(process)
    finally:
        stack.stop()

    # Assert
    second = second_log.read_text()
    assert code == 0 and "OMS stopped" in second
    assert " WARNING " not in second and " ERROR " not in second, second
