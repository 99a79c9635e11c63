"""The quickfix Application's callbacks: what each turns a message into for the core."""

from __future__ import annotations

from decimal import Decimal

import pytest
import quickfix as fix

from oms.app import commands as cmd
from oms.fix.app import BROKER, UPSTREAM, OmsApplication, _execution_report
from oms.fix.engine import message_from_text, split_fields

BROKER_KEY = "FIX.4.4:OMS->BROKER1"
BROKER_ID = fix.SessionID("FIX.4.4", "OMS", "BROKER1")
CLIENT_ID = fix.SessionID("FIX.4.4", "OMS", "CLIENT1")


def application() -> tuple[OmsApplication, list[cmd.Command]]:
    submitted: list[cmd.Command] = []
    app = OmsApplication({BROKER_KEY: BROKER, "FIX.4.4:OMS->CLIENT1": UPSTREAM},
                         submitted.append)
    return app, submitted


@pytest.mark.parametrize(("body", "reset"), [
    ("98=0\x01108=30\x01141=Y", True),
    ("98=0\x01108=30", False),
    ("98=0\x01108=30\x01141=N", False),
], ids=["141=Y", "no 141", "141=N"])
def test_logon_says_whether_the_counterparty_reset_sequence_numbers(body, reset):
    # Arrange: #16: the engine hands the Logon to fromAdmin, then calls onLogon
    app, submitted = application()

    # Act
    app.fromAdmin(message_from_text("A", body), BROKER_ID)
    app.onLogon(BROKER_ID)

    # Assert
    assert submitted == [cmd.SessionLoggedOn(BROKER_KEY, reset=reset)]


def test_a_reset_is_said_on_that_logon_only():
    # Arrange
    app, submitted = application()
    app.fromAdmin(message_from_text("A", "98=0\x01108=30\x01141=Y"), BROKER_ID)
    app.onLogon(BROKER_ID)
    app.onLogout(BROKER_ID)

    # Act: the next logon's Logon has no 141=Y
    app.fromAdmin(message_from_text("A", "98=0\x01108=30"), BROKER_ID)
    app.onLogon(BROKER_ID)

    # Assert
    assert submitted[-1] == cmd.SessionLoggedOn(BROKER_KEY, reset=False)


def test_an_execution_report_carries_the_brokers_avg_px():
    # Arrange
    text = ("8=FIX.4.4\x019=0\x0135=8\x0134=7\x0149=BROKER1\x0156=OMS\x0137=BK1\x0111=K1\x01"
            "17=X1\x01150=I\x0139=1\x0155=IBM\x0154=1\x0138=1000\x01151=600\x0114=400\x01"
            "6=9.95\x0110=000\x01")

    # Act
    report = _execution_report(BROKER_KEY, split_fields(text), text)

    # Assert
    assert (report.cum_qty, report.avg_px, report.text) == (Decimal(400), Decimal("9.95"), "")


def test_a_fills_commission_and_comm_type_reach_the_core():
    # Arrange: #21
    text = ("35=8\x0134=7\x0111=K1\x0117=X1\x01150=F\x0139=2\x0132=100\x0131=10\x01"
            "12=0.005\x0113=1\x01")

    # Act
    report = _execution_report(BROKER_KEY, split_fields(text), text)
    without = _execution_report(BROKER_KEY, split_fields(text.replace("12=0.005\x0113=1\x01",
                                                                      "")), text)

    # Assert
    assert (report.commission, report.comm_type) == (Decimal("0.005"), "1")
    assert (without.commission, without.comm_type) == (None, "")


def test_an_avg_px_that_is_not_a_number_is_said_in_the_text():
    # Arrange
    text = "35=8\x0134=7\x0111=K1\x0117=X1\x01150=I\x0139=1\x0114=400\x016=abc\x01"

    # Act
    report = _execution_report(BROKER_KEY, split_fields(text), text)

    # Assert
    assert report.avg_px is None
    assert "tag 6" in report.text


def test_passwords_never_reach_the_journal():
    # #18: a message carrying Password (554) or NewPassword (925) is journaled masked
    from oms.fix.app import _journal

    text = "8=FIX.4.4\x019=50\x0135=BE\x01553=trader\x01554=hunter2\x01925=n3w-pw\x0110=000\x01"

    journaled = _journal(text)

    assert "hunter2" not in journaled and "n3w-pw" not in journaled
    assert "|553=trader|554=***|925=***|" in journaled


@pytest.mark.parametrize(("logout", "level", "cause"), [
    (("5", "58=server stopping"), "INFO", "we logged out: server stopping"),
    (("5", "58=MsgSeqNum too low"), "WARNING", "we logged out: MsgSeqNum too low"),
    (None, "WARNING", "connection lost without a Logout"),
], ids=["our stop", "our logout for a reason", "connection lost"])
def test_a_logout_after_a_logon_is_logged_once_with_its_cause(caplog, logout, level, cause):
    import logging

    app, _ = application()
    caplog.set_level(logging.DEBUG, logger="oms.fix.app")
    app.onLogon(BROKER_ID)
    if logout is not None:
        app.toAdmin(message_from_text(*logout), BROKER_ID)

    app.onLogout(BROKER_ID)
    app.onLogout(BROKER_ID)  # QuickFIX again after a failed reconnect

    lines = [(r.levelname, r.getMessage()) for r in caplog.records if "logged out" in
             r.getMessage()]
    assert lines == [(level, f"FIX session {BROKER_KEY} logged out: {cause}")]


def test_the_counterpartys_logout_text_is_the_cause(caplog):
    import logging

    app, _ = application()
    caplog.set_level(logging.INFO, logger="oms.fix.app")
    app.onLogon(BROKER_ID)
    app.fromAdmin(message_from_text("5", "58=end of day"), BROKER_ID)
    answer = fix.Message()
    answer.getHeader().setField(35, "5")
    app.toAdmin(answer, BROKER_ID)  # our answer, without Text, changes nothing

    app.onLogout(BROKER_ID)

    assert caplog.records[-1].getMessage() == (
        f"FIX session {BROKER_KEY} logged out: the counterparty logged out: end of day")


@pytest.mark.parametrize(("session", "level"), [(CLIENT_ID, "INFO"), (BROKER_ID, "WARNING")],
                         ids=["a client ending its day", "a broker taking our route away"])
def test_a_counterpartys_logout_is_info_from_a_client_and_a_warning_from_a_broker(
        caplog, session, level):
    import logging

    app, _ = application()
    caplog.set_level(logging.INFO, logger="oms.fix.app")
    app.onLogon(session)
    logout = fix.Message()
    logout.getHeader().setField(35, "5")  # without Text
    app.fromAdmin(logout, session)

    app.onLogout(session)

    record = caplog.records[-1]
    assert (record.levelname, record.getMessage()) == (
        level, f"FIX session {session.toString()} logged out: the counterparty logged out")


def admin_message(msg_type: str, **fields: str) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(35, msg_type)
    for tag, value in fields.items():
        message.setField(int(tag.removeprefix("f")), value)
    return message


def test_a_testrequest_we_send_makes_the_session_unanswered_until_it_speaks():
    # #19: QuickFIX sends TestRequest (1) when the counterparty has been silent
    app, submitted = application()
    app.onLogon(BROKER_ID)

    app.toAdmin(admin_message("1", f112="TEST"), BROKER_ID)
    app.toAdmin(admin_message("1", f112="TEST"), BROKER_ID)  # asked again: said once
    app.fromAdmin(admin_message("0", f112="TEST"), BROKER_ID)
    app.fromAdmin(admin_message("0"), BROKER_ID)  # a heartbeat after: nothing to say

    assert submitted[1:] == [cmd.SessionUnanswered(BROKER_KEY), cmd.SessionAnswered(BROKER_KEY)]
    assert app.unanswered == set()
    assert app.test_requests_sent == {BROKER_KEY: 2}
