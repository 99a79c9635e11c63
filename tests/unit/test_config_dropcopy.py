"""#19: ``[[drop_copies]]`` as oms.toml gives them, the sessions they make, and what the
FIX layer does on them: ExecutionReports in, nothing else in, nothing ever out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix

from oms.app import commands as cmd
from oms.app.ports import OutMessage
from oms.bootstrap import core_settings, drop_copy_specs, routes
from oms.config import load_config, parse_config_text
from oms.domain.errors import ConfigError
from oms.fix.app import BROKER, DROP_COPY, OmsApplication

BASE = """
[[upstream]]
target_comp_id = "CLIENT1"
port = 9876

[[brokers]]
name = "GS"
target_comp_id = "GSFIX"
port = 9877
"""

COPIES = BASE + """
[[drop_copies]]
name = "GS-DC"
broker = "GS"
sender_comp_id = "OMSDC"
target_comp_id = "GSFIX"
host = "10.0.0.9"
port = 9900
grace_seconds = 30
settings = { LogonTimeout = 10 }

[[drop_copies]]
name = "GS-DC-IN"
broker = "GS"
role = "acceptor"
sender_comp_id = "OMS"
target_comp_id = "GSDROP"
port = 9901
"""


def test_drop_copies_are_sessions_of_their_side_with_their_settings(tmp_path: Path) -> None:
    config = parse_config_text(COPIES, tmp_path)

    initiated, accepted = config.drop_copies
    assert (initiated.role, initiated.key, initiated.grace_seconds, initiated.reset_on_logon) \
        == ("initiator", "FIX.4.4:OMSDC->GSFIX", 30, False)
    assert (accepted.role, accepted.key, accepted.grace_seconds) == (
        "acceptor", "FIX.4.4:OMS->GSDROP", 60)
    acceptors, initiators = drop_copy_specs(config)
    assert [(s.key, s.settings) for s in acceptors] == [
        ("FIX.4.4:OMS->GSDROP", {"SocketAcceptPort": "9901", "ResetOnLogon": "N"})]
    assert [(s.key, s.settings) for s in initiators] == [
        ("FIX.4.4:OMSDC->GSFIX", {"SocketConnectHost": "10.0.0.9", "SocketConnectPort": "9900",
                                  "ReconnectInterval": "5", "ResetOnLogon": "N",
                                  "LogonTimeout": "10"})]
    # the matcher knows them with their broker's order sessions; the router never does
    sources = core_settings(config).drop_copies
    assert [(s.session, s.name, s.broker, s.broker_sessions, s.grace_seconds)
            for s in sources] == [
        ("FIX.4.4:OMSDC->GSFIX", "GS-DC", "GS", ("FIX.4.4:OMS->GSFIX",), 30.0),
        ("FIX.4.4:OMS->GSDROP", "GS-DC-IN", "GS", ("FIX.4.4:OMS->GSFIX",), 60.0)]
    assert [route.sessions for route in routes(config).values()] == [("FIX.4.4:OMS->GSFIX",)]


@pytest.mark.parametrize("extra, says", [
    ('name = "X"\nbroker = "MS"\ntarget_comp_id = "T"\nport = 1', "broker = 'MS' is not a broker"),
    ('name = "X"\nbroker = "GS"\ntarget_comp_id = "GSFIX"\nport = 1',
     "session FIX.4.4:OMS->GSFIX is configured twice"),
    ('name = "X"\nbroker = "GS"\nrole = "acceptor"\nhost = "h"\ntarget_comp_id = "T"\nport = 1',
     "host only for role = \"initiator\""),
    ('name = "X"\nbroker = "GS"\nrole = "both"\ntarget_comp_id = "T"\nport = 1', "role"),
    ('name = "X"\nbroker = "GS"\ntarget_comp_id = "T"\nport = 1\ngrace_seconds = 0',
     "grace_seconds"),
    ('name = "X"\nbroker = "GS"\ntarget_comp_id = "T"\nport = 1\ncolour = "red"', "colour"),
    ('name = "X"\nbroker = "GS"\ntarget_comp_id = "T"\nport = 1\n'
     'settings = { HeartBtInt = 5 }', "HeartBtInt is set by the OMS itself"),
    ('name = "X"\nbroker = "GS"\ntarget_comp_id = "T"', "port"),
], ids=["unknown broker", "key taken", "acceptor host", "role", "grace", "unknown key",
        "owned setting", "no port"])
def test_a_bad_drop_copy_is_refused_naming_the_key_and_the_file(
        tmp_path: Path, extra: str, says: str) -> None:
    path = tmp_path / "oms.toml"
    path.write_text(BASE + "\n[[drop_copies]]\n" + extra + "\n")

    with pytest.raises(ConfigError) as refused:
        load_config(path)

    assert str(path) in str(refused.value) and says in str(refused.value)


# --- the FIX layer on a drop-copy session -----------------------------------------------
DROP_KEY = "FIX.4.4:OMSDC->GSFIX"
DROP_ID = fix.SessionID("FIX.4.4", "OMSDC", "GSFIX")
BROKER_KEY = "FIX.4.4:OMS->GSFIX"


def application() -> tuple[OmsApplication, list[cmd.Command]]:
    submitted: list[cmd.Command] = []
    return OmsApplication({BROKER_KEY: BROKER, DROP_KEY: DROP_COPY}, submitted.append), \
        submitted


def inbound(msg_type: str, body: str, seq: int = 5) -> fix.Message:
    message = fix.Message()
    message.setString(f"8=FIX.4.4\x019=0\x0135={msg_type}\x0134={seq}\x0149=GSFIX\x01"
                      f"56=OMSDC\x0152=20240102-14:30:00.000\x01{body}10=000\x01", False)
    return message


def test_an_execution_report_on_a_drop_copy_becomes_apply_drop_copy() -> None:
    app, submitted = application()

    app.fromApp(inbound("8", "1=ACC1\x016=10\x0111=K1\x0114=40\x0117=BX1\x0131=10.5\x01"
                             "32=40\x0137=BRK-1\x0139=1\x0154=2\x0155=IBM\x01"
                             "60=20240102-14:29:59.123\x01150=F\x01151=60\x01797=Y\x01"),
                DROP_ID)

    [command] = submitted
    assert isinstance(command, cmd.ApplyDropCopy)
    assert (command.session, command.seq_num, command.exec_id, command.exec_type,
            command.ord_status, command.cl_ord_id, command.broker_order_id, command.account,
            command.symbol, command.side, command.last_qty, command.last_px, command.copy,
            command.poss_dup, command.error) == (
        DROP_KEY, 5, "BX1", "F", "1", "K1", "BRK-1", "ACC1", "IBM", "2", Decimal(40),
        Decimal("10.5"), True, False, "")
    assert command.transact_time == datetime(2024, 1, 2, 14, 29, 59, 123000, tzinfo=UTC)
    assert command.raw.startswith("8=FIX.4.4|") and "|797=Y|" in command.raw


def test_any_other_application_message_on_a_drop_copy_is_refused() -> None:
    app, submitted = application()

    for msg_type in ("9", "D", "j"):
        with pytest.raises(fix.UnsupportedMessageType):
            app.fromApp(inbound(msg_type, "11=K1\x01"), DROP_ID)

    assert submitted == []


def test_nothing_is_ever_sent_on_a_drop_copy(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = application()
    app.session_ids[DROP_KEY] = DROP_ID  # as onCreate would have it

    with caplog.at_level(logging.ERROR, logger="oms.fix.app"):
        app.send([OutMessage.of_fields(DROP_KEY, "D", [(11, "K1"), (55, "IBM")])])

    assert "refused to send D on drop-copy session FIX.4.4:OMSDC->GSFIX" in caplog.text
    assert app.last_error[DROP_KEY] == "refused to send D: drop copy"

