"""#18: any QuickFIX key can be given in oms.toml, as a default or per session, and the
data dictionary path means what its comment says."""

from __future__ import annotations

from pathlib import Path

import pytest
import quickfix as fix

from oms.bootstrap import fix_defaults, session_specs
from oms.config import config_to_toml, load_config, parse_config_text
from oms.domain.errors import ConfigError
from oms.fix.settings import FIX44, OWNED_KEYS, render_cfg

SESSIONS = """
[[upstream]]
target_comp_id = "CLIENT1"
port = 9876
{upstream}

[[brokers]]
name = "SIM"
target_comp_id = "BROKER1"
port = 9877
{broker}
"""


def write_config(folder: Path, head: str = "", upstream: str = "", broker: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "oms.toml"
    path.write_text(head + SESSIONS.format(upstream=upstream, broker=broker))
    return path


def quickfix_reads(path: Path, kind: str) -> fix.SessionSettings:
    """The settings file the OMS would write for ``kind``, read back by QuickFIX itself."""
    config = load_config(path)
    upstream, brokers = session_specs(config)
    cfg = path.parent / f"{kind}.cfg"
    defaults = {**fix_defaults(config), "ConnectionType": kind}  # as oms.fix.engine adds it
    cfg.write_text(render_cfg(defaults, upstream if kind == "acceptor" else brokers))
    return fix.SessionSettings(str(cfg))


def test_fix_settings_reach_every_session_and_a_sessions_own_settings_win(
        tmp_path: Path) -> None:
    # Arrange
    path = write_config(
        tmp_path,
        head='[oms]\nsessions_dir = "s"\n[fix.settings]\nTimeZone = "America/New_York"\n'
             'StartDay = "sunday"\nEndDay = "friday"\nLogonTimeout = 7\n',
        upstream='settings = { SocketAcceptHost = "127.0.0.1", LogonTimeout = 3 }',
        broker='settings = { SocketConnectSourceHost = "127.0.0.1", RefreshOnLogon = true }')

    # Act (the SessionSettings must outlive the dictionaries it hands out)
    acceptor_settings = quickfix_reads(path, "acceptor")
    initiator_settings = quickfix_reads(path, "initiator")
    acceptor = acceptor_settings.get(fix.SessionID(FIX44, "OMS", "CLIENT1"))
    initiator = initiator_settings.get(fix.SessionID(FIX44, "OMS", "BROKER1"))

    # Assert
    for session in (acceptor, initiator):
        assert session.getString("TimeZone") == "America/New_York"
        assert session.getString("StartDay") == "sunday"
        assert session.getString("EndDay") == "friday"
    assert acceptor.getString("SocketAcceptHost") == "127.0.0.1"
    assert acceptor.getString("LogonTimeout") == "3"  # the session's own beats the default
    assert initiator.getString("LogonTimeout") == "7"
    assert initiator.getString("SocketConnectSourceHost") == "127.0.0.1"
    assert initiator.getString("RefreshOnLogon") == "Y"
    assert not acceptor.has("SocketConnectSourceHost")


@pytest.mark.parametrize(("toml", "expected"), [
    ("true", "Y"), ("false", "N"), ("30", "30"), ("2.5", "2.5"), ('"Y"', "Y"),
    ("08:30:00", "08:30:00"),
])
def test_toml_values_are_written_as_quickfix_expects(
        tmp_path: Path, toml: str, expected: str) -> None:
    # Act
    config = parse_config_text(f"[fix.settings]\nSomeKey = {toml}\n", tmp_path)

    # Assert
    assert fix_defaults(config)["SomeKey"] == expected


def test_a_passthrough_key_the_oms_sets_without_an_option_takes_the_given_value(
        tmp_path: Path) -> None:
    # Act
    config = parse_config_text("[fix.settings]\nallowunknownmsgfields = true\n", tmp_path)
    defaults = fix_defaults(config)

    # Assert: QuickFIX compares keys without case, so the OMS's own value is gone
    assert defaults["allowunknownmsgfields"] == "Y"
    assert "AllowUnknownMsgFields" not in defaults


@pytest.mark.parametrize(("head", "upstream", "broker", "message"), [
    ('[fix.settings]\nHeartBtInt = 10\n', "", "",
     r"\[fix.settings\]: HeartBtInt is set by the OMS itself; set \[fix\] heartbeat_interval"),
    ('[fix.settings]\nFileStorePath = "/tmp/x"\n', "", "",
     r"FileStorePath is set by the OMS itself; set \[oms\] sessions_dir"),
    ("", "settings = { SocketAcceptPort = 1234 }", "",
     r"\[\[upstream\]\] CLIENT1 settings: SocketAcceptPort is set by the OMS itself; "
     r"set port in \[\[upstream\]\]"),
    ("", "", 'settings = { resetonlogon = "Y" }',
     r"\[\[brokers\]\] session SIM settings: resetonlogon is set by the OMS itself; "
     r"set reset_on_logon"),
    ("", "", 'settings = { SenderCompID = "OTHER" }', r"SenderCompID .* set sender_comp_id"),
    ('[fix.settings]\nStartTime = "08:00:00"\n', "", "", r"set \[fix\] start_time"),
])
def test_a_key_the_oms_sets_from_its_own_option_is_refused_naming_the_option(
        tmp_path: Path, head: str, upstream: str, broker: str, message: str) -> None:
    # Arrange
    path = write_config(tmp_path, head, upstream, broker)

    # Act / Assert
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(("line", "message"), [
    ('Bad = ["a", "b"]', "Bad: a QuickFIX value is a string, boolean, number or time"),
    ('Bad = "a\\nb"', "Bad: a QuickFIX value is one line"),
    ('"Two Words" = "x"', "'Two Words' is not a QuickFIX setting name"),
])
def test_what_quickfix_cannot_take_is_refused(tmp_path: Path, line: str, message: str) -> None:
    # Arrange
    path = write_config(tmp_path, f"[fix.settings]\n{line}\n")

    # Act / Assert
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_every_key_the_oms_writes_is_refused_as_passthrough_or_meant_to_be_overridden(
        tmp_path: Path) -> None:
    # Arrange
    config = load_config(write_config(tmp_path))
    upstream, brokers = session_specs(config)

    # Act
    written = set(fix_defaults(config)) | {
        key for spec in upstream + brokers for key in spec.settings}

    # Assert: a new key the OMS writes must be added to OWNED_KEYS, or be left to sites
    assert written - set(OWNED_KEYS) == {"AllowUnknownMsgFields"}


def test_passthrough_settings_survive_the_config_being_written_back(tmp_path: Path) -> None:
    # Arrange: the demo and the tests' stacks write the config they run with
    config = load_config(write_config(
        tmp_path, '[fix.settings]\nTimeZone = "UTC"\n',
        upstream="settings = { LogonTimeout = 3 }"))

    # Act
    again = parse_config_text(config_to_toml(config), tmp_path)

    # Assert
    assert again.fix.settings == {"TimeZone": "UTC"}
    assert again.upstream[0].settings == {"LogonTimeout": "3"}


# --- the data dictionary ----------------------------------------------------------------
def test_an_empty_data_dictionary_is_the_fix44_xml_beside_the_config(tmp_path: Path) -> None:
    # Arrange: a config in a fix_config/ folder, whose other paths are the parent's
    folder = tmp_path / "fix_config"
    path = write_config(folder, '[fix]\ndata_dictionary = ""\n')
    (folder / "FIX44.xml").write_text("<fix/>")

    # Act
    defaults = fix_defaults(load_config(path))

    # Assert
    assert Path(defaults["DataDictionary"]) == folder / "FIX44.xml"


def test_an_empty_data_dictionary_without_one_beside_the_config_is_the_shipped_one(
        tmp_path: Path) -> None:
    # Arrange
    path = write_config(tmp_path, '[fix]\ndata_dictionary = ""\n')
    shipped = Path(__file__).resolve().parents[2] / "fix_config" / "FIX44.xml"

    # Act
    defaults = fix_defaults(load_config(path))

    # Assert
    assert Path(defaults["DataDictionary"]) == shipped


def test_a_relative_data_dictionary_is_relative_to_the_config_file(tmp_path: Path) -> None:
    # Arrange
    folder = tmp_path / "fix_config"
    path = write_config(folder, '[fix]\ndata_dictionary = "dicts/FIX44-site.xml"\n')
    (folder / "dicts").mkdir()
    (folder / "dicts" / "FIX44-site.xml").write_text("<fix/>")

    # Act
    defaults = fix_defaults(load_config(path))

    # Assert
    assert Path(defaults["DataDictionary"]) == folder / "dicts" / "FIX44-site.xml"


def test_a_data_dictionary_that_is_not_there_is_a_config_error_naming_it(
        tmp_path: Path) -> None:
    # Arrange
    path = write_config(tmp_path, '[fix]\ndata_dictionary = "missing.xml"\n')

    # Act / Assert
    with pytest.raises(ConfigError, match=r"data_dictionary: no such file: .*missing\.xml"):
        fix_defaults(load_config(path))
