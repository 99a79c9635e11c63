"""#18: SSL asked in oms.toml (SocketUseSSL) picks QuickFIX's SSL engine, for all of an
engine's sessions or none; SSL keys that would be ignored are refused."""

from __future__ import annotations

import pytest

from oms.fix.settings import SessionSpec, ssl_in_defaults, wants_ssl


def spec(target: str, **settings: str) -> SessionSpec:
    return SessionSpec("OMS", target, dict(settings))


def test_no_ssl_keys_is_no_ssl() -> None:
    assert wants_ssl({"HeartBtInt": "30"}, [spec("A"), spec("B")]) is False


def test_socket_use_ssl_as_a_default_or_on_every_session_is_ssl() -> None:
    assert wants_ssl({"SocketUseSSL": "Y"}, [spec("A"), spec("B")]) is True
    assert wants_ssl({}, [spec("A", socketusessl="Y"), spec("B", SocketUseSSL="Y")]) is True


def test_a_sessions_own_switch_wins_over_the_default() -> None:
    assert wants_ssl({"SocketUseSSL": "Y"}, [spec("A", SocketUseSSL="N")]) is False


def test_some_sessions_of_one_engine_with_ssl_and_some_without_are_refused() -> None:
    with pytest.raises(ValueError, match=r"all of them use SSL or none.*SSL: FIX.4.4:OMS->A; "
                                         r"not: FIX.4.4:OMS->B"):
        wants_ssl({}, [spec("A", SocketUseSSL="Y"), spec("B")])


def test_ssl_keys_without_the_switch_are_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="ServerCertificateFile take effect only with "
                                         "SocketUseSSL = true"):
        wants_ssl({}, [spec("A", ServerCertificateFile="/etc/oms/server.pem")])
    with pytest.raises(ValueError, match="SSLProtocol"):
        wants_ssl({"SSLProtocol": "+TLSv1_2"}, [spec("A")])


def test_ssl_keys_with_the_switch_off_run_in_the_clear() -> None:
    # e.g. [fix.settings] holds the certificates for the SSL side, a broker says false
    assert wants_ssl({"ClientCertificateFile": "c.pem"}, [spec("A", SocketUseSSL="N")]) is False


def test_a_switch_that_is_not_yes_or_no_is_refused() -> None:
    with pytest.raises(ValueError, match="true or false"):
        wants_ssl({}, [spec("A", SocketUseSSL="yes")])


def test_ssl_keys_given_on_sessions_move_to_the_engines_defaults() -> None:
    # quickfix 1.16's SSL engines read their keys from [DEFAULT] only
    defaults, sessions = ssl_in_defaults(
        {"HeartBtInt": "30", "SSLProtocol": "+TLSv1_2"},
        [spec("A", SocketUseSSL="Y", ServerCertificateFile="/etc/oms/oms.pem", HeartBtInt="5"),
         spec("B", SocketUseSSL="Y", servercertificatefile="/etc/oms/oms.pem")])

    assert defaults == {"HeartBtInt": "30", "SSLProtocol": "+TLSv1_2",
                        "ServerCertificateFile": "/etc/oms/oms.pem"}
    assert [s.settings for s in sessions] == [{"SocketUseSSL": "Y", "HeartBtInt": "5"},
                                             {"SocketUseSSL": "Y"}]


def test_a_sessions_ssl_key_wins_over_the_default_when_every_session_gives_it() -> None:
    defaults, _ = ssl_in_defaults({"CertificateVerifyLevel": "0"},
                                  [spec("A", CertificateVerifyLevel="1")])

    assert defaults == {"CertificateVerifyLevel": "1"}


def test_sessions_of_one_engine_disagreeing_on_an_ssl_key_are_refused() -> None:
    with pytest.raises(ValueError, match=r"ServerCertificateFile: QuickFIX reads SSL keys once "
                                         r"per engine.*a.pem \(FIX.4.4:OMS->A\); "
                                         r"b.pem \(FIX.4.4:OMS->B\)"):
        ssl_in_defaults({}, [spec("A", ServerCertificateFile="a.pem"),
                             spec("B", ServerCertificateFile="b.pem")])
    with pytest.raises(ValueError, match=r"<not set> \(FIX.4.4:OMS->B\)"):
        ssl_in_defaults({}, [spec("A", ClientCertificateFile="a.pem"), spec("B")])
