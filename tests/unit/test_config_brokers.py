"""#19: brokers with several sessions, and routing rules, as oms.toml gives them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oms.bootstrap import routes, session_specs
from oms.config import config_to_toml, load_config, parse_config_text
from oms.domain.errors import ConfigError

TWO_SESSIONS = """
[[brokers]]
name = "GS"
account = "HOUSE"
[[brokers.sessions]]
sender_comp_id = "OMS"
target_comp_id = "GSFIX"
port = 9877
[[brokers.sessions]]
name = "GS-backup"
sender_comp_id = "OMS2"
target_comp_id = "GSFIX2"
host = "10.0.0.2"
port = 9878
reconnect_interval = 2

[[brokers]]
name = "MS"
target_comp_id = "MSFIX"
port = 9879

[routing]
default_route = "GS"
[[routing.rules]]
ex_destination = "XNAS"
broker = "MS"
[[routing.rules]]
symbol = "AA*"
min_qty = 10000
broker = "MS"
"""


def test_a_broker_has_its_sessions_in_priority_order(tmp_path: Path) -> None:
    config = parse_config_text(TWO_SESSIONS, tmp_path)

    gs, ms = config.brokers
    assert [s.name for s in gs.sessions] == ["GS-1", "GS-backup"]
    assert [s.key for s in gs.sessions] == ["FIX.4.4:OMS->GSFIX", "FIX.4.4:OMS2->GSFIX2"]
    assert (gs.sessions[1].host, gs.sessions[1].port, gs.sessions[1].reconnect_interval) == \
        ("10.0.0.2", 9878, 2)
    # the form of one session: its keys on [[brokers]], the session named after the broker
    assert [(s.name, s.key, s.port) for s in ms.sessions] == [("MS", "FIX.4.4:OMS->MSFIX", 9879)]
    assert routes(config)["GS"].sessions == ("FIX.4.4:OMS->GSFIX", "FIX.4.4:OMS2->GSFIX2")
    assert routes(config)["GS"].session == "FIX.4.4:OMS->GSFIX"
    assert routes(config)["GS"].account == "HOUSE"
    _, brokers = session_specs(config)
    assert [(b.key, b.settings["SocketConnectHost"], b.settings["SocketConnectPort"])
            for b in brokers] == [("FIX.4.4:OMS->GSFIX", "127.0.0.1", "9877"),
                                  ("FIX.4.4:OMS2->GSFIX2", "10.0.0.2", "9878"),
                                  ("FIX.4.4:OMS->MSFIX", "127.0.0.1", "9879")]


def test_rules_are_read_in_order(tmp_path: Path) -> None:
    config = parse_config_text(TWO_SESSIONS, tmp_path)

    rules = [rule.rule() for rule in config.routing.rules]
    assert [(r.broker, r.conditions()) for r in rules] == [
        ("MS", "ex_destination=XNAS"), ("MS", "symbol=AA* min_qty=10000")]
    assert rules[1].min_qty == Decimal(10000)


def test_a_config_written_back_reads_the_same(tmp_path: Path) -> None:
    config = parse_config_text(TWO_SESSIONS, tmp_path)
    path = tmp_path / "oms.toml"

    path.write_text(config_to_toml(config))

    again = load_config(path)
    assert again.brokers == config.brokers
    assert again.routing == config.routing


@pytest.mark.parametrize(("text", "message"), [
    ('[[brokers]]\nname = "GS"\nport = 1\ntarget_comp_id = "X"\n'
     '[[brokers.sessions]]\ntarget_comp_id = "Y"\nport = 2\n',
     r"\[\[brokers\]\] GS: target_comp_id, port belong in its \[\[brokers.sessions\]\]"),
    ('[[brokers]]\nname = "GS"\nsessions = []\n', r"brokers.0.sessions"),
    ('[[brokers]]\nname = "GS"\n[[brokers.sessions]]\nname = "A"\ntarget_comp_id = "X"\n'
     'port = 1\n[[brokers.sessions]]\nname = "A"\ntarget_comp_id = "Y"\nport = 2\n',
     r"broker session names must be unique: \['A', 'A'\]"),
    ('[[brokers]]\nname = "GS"\ntarget_comp_id = "X"\nport = 1\n'
     '[[routing.rules]]\nsymbol = "A*"\nbroker = "NOPE"\n',
     r"routing.rules\[1\].broker = 'NOPE' is not a broker"),
    ('[[brokers]]\nname = "GS"\ntarget_comp_id = "X"\nport = 1\n'
     '[[routing.rules]]\nmin_qty = 100\nmax_qty = 10\nbroker = "GS"\n',
     r"min_qty 100 is above max_qty 10"),
    ('[[brokers]]\nname = "GS"\ntarget_comp_id = "X"\nport = 1\n'
     '[[routing.rules]]\nsymbl = "A*"\nbroker = "GS"\n', r"symbl"),
], ids=["both forms", "no session", "same session name", "unknown broker", "bounds",
        "misspelt key"])
def test_a_bad_broker_or_rule_is_refused_naming_the_file_and_key(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "oms.toml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message) as refused:
        load_config(path)
    assert str(path) in str(refused.value)
