"""#18: SSL asked in oms.toml. The quickfix on PyPI (1.16) is built without SSL: its
SSLSocketAcceptor refuses to be built ("HAVE_SSL not enabled"). The OMS must then refuse to
start, saying why, rather than serve in the clear a session whose config asks for TLS."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import quickfix as fix

from oms.localproc import free_port

OPENSSL = "/usr/bin/openssl"

CONFIG = """
[oms]
database_url = "sqlite:///oms.db"
sessions_dir = "sessions"

[admin]
port = 0

[fix.settings]
ServerCertificateFile = "{certs}/server.pem"
ServerCertificateKeyFile = "{certs}/server.key"
CertificationAuthoritiesFile = "{certs}/ca.pem"

[[upstream]]
target_comp_id = "CLIENT1"
port = {port}
settings = {{ SocketUseSSL = true }}
{more}
"""

SECOND_UPSTREAM = """
[[upstream]]
target_comp_id = "CLIENT2"
port = {port2}
settings = {{ SocketUseSSL = false }}
"""


def make_certs(folder: Path) -> Path:
    """A self-signed CA and a server certificate it signed, as a site would give them."""
    folder.mkdir()

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=oms-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-out", "server.pem")
    return folder


class Quiet(fix.Application):  # type: ignore[misc]
    def onCreate(self, session_id: fix.SessionID) -> None: ...
    def onLogon(self, session_id: fix.SessionID) -> None: ...
    def onLogout(self, session_id: fix.SessionID) -> None: ...
    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...


def quickfix_has_ssl(folder: Path) -> bool:
    cfg = folder / "probe.cfg"
    cfg.write_text(f"[DEFAULT]\nConnectionType=acceptor\nFileStorePath={folder}/probe\n"
                   "StartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\n\n[SESSION]\nBeginString=FIX.4.4\n"
                   f"SenderCompID=A\nTargetCompID=B\nSocketAcceptPort={free_port()}\n")
    settings = fix.SessionSettings(str(cfg))
    try:
        fix.SSLSocketAcceptor(Quiet(), fix.MemoryStoreFactory(), settings)
    except fix.ConfigError as exc:
        assert "HAVE_SSL" in str(exc), exc
        return False
    return True


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def serve(tmp_path: Path, more: str = "") -> tuple[subprocess.CompletedProcess[str], int]:
    if quickfix_has_ssl(tmp_path):
        pytest.skip("this quickfix has SSL: the OMS's SSL engine needs a logon test instead")
    port = free_port()
    config = tmp_path / "oms.toml"
    config.write_text(CONFIG.format(certs=make_certs(tmp_path / "certs"), port=port,
                                    more=more.format(port2=free_port())))
    done = subprocess.run([sys.executable, "-m", "oms", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    return done, port


def test_a_server_asked_for_ssl_by_a_quickfix_without_ssl_refuses_to_start(
        tmp_path: Path) -> None:
    # Act
    done, port = serve(tmp_path)

    # Assert
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, output
    assert "could not start" in output
    assert "SocketUseSSL asks for SSL, but this quickfix was built without it" in output
    assert "HAVE_SSL" in output and "stunnel" in output
    assert not listening(port)  # nothing was served in the clear
    assert not (tmp_path / "sessions" / "admin.token").exists()


def test_a_server_with_ssl_on_one_upstream_session_and_not_another_refuses_to_start(
        tmp_path: Path) -> None:
    # Act
    done, port = serve(tmp_path, SECOND_UPSTREAM)

    # Assert
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, output
    assert "all of them use SSL or none does" in output
    assert "SSL: FIX.4.4:OMS->CLIENT1; not: FIX.4.4:OMS->CLIENT2" in output
    assert not listening(port)
