"""#18: FIX over TLS. ``SocketUseSSL = true`` in oms.toml picks QuickFIX's SSL engine.

With a quickfix built with SSL (``scripts/quickfix_ssl.sh``; CI installs it), a real
``oms serve`` takes an upstream client over TLS and logs on to a broker over TLS, both
sides of nobody's making (Python's ``ssl`` around the raw FIX sessions of
tests/acceptance), and plays a scripted conversation through; a client that speaks FIX in
the clear to its TLS port gets no FIX answer; the server starts and stops cleanly over and
over. Without SSL in quickfix (PyPI's build) those tests skip, and fail under ``CI``.

The quickfix on PyPI refuses to build its SSL engines ("HAVE_SSL not enabled"): a server
asked for SSL must then refuse to start, saying why, rather than serve in the clear.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import quickfix as fix

from oms.admin import call
from oms.bootstrap import OmsServer
from oms.config import load_config
from oms.domain.errors import ConfigError
from oms.localproc import free_port, listening, stop_process
from tests.acceptance.fixscript import RawFixBroker, RawFixClient, Scenario, play
from tests.integration.stack import wait_until

OPENSSL = "/usr/bin/openssl"
SCENARIO = (Path(__file__).parents[1] / "acceptance" / "scenarios"
            / "11_broker_pending_new_then_partial_fills.fix")

CONFIG = """
[oms]
database_url = "sqlite:///oms.db"
sessions_dir = "sessions"

[admin]
port = 0

[[upstream]]
target_comp_id = "CLIENT1"
port = {port}
reset_on_logon = true
settings = {{ SocketUseSSL = true, ServerCertificateFile = "{certs}/oms.pem", ServerCertificateKeyFile = "{certs}/oms.key" }}
{more}
"""

BROKER = """
[[brokers]]
name = "TLS"
target_comp_id = "BROKER1"
host = "127.0.0.1"
port = {broker_port}
reconnect_interval = 1
settings = {{ SocketUseSSL = true, CertificationAuthoritiesFile = "{certs}/ca.pem" }}

[routing]
default_route = "TLS"
"""

SECOND_UPSTREAM = """
[[upstream]]
target_comp_id = "CLIENT2"
port = {port2}
settings = {{ SocketUseSSL = false }}
"""


class Quiet(fix.Application):  # type: ignore[misc]
    def onCreate(self, session_id: fix.SessionID) -> None: ...
    def onLogon(self, session_id: fix.SessionID) -> None: ...
    def onLogout(self, session_id: fix.SessionID) -> None: ...
    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...


def quickfix_has_ssl() -> bool:
    """True if this quickfix builds its SSL acceptor (PyPI's throws "HAVE_SSL not enabled")."""
    with tempfile.TemporaryDirectory() as folder:
        cfg = Path(folder) / "probe.cfg"
        cfg.write_text("[DEFAULT]\nConnectionType=acceptor\nStartTime=00:00:00\n"
                       "EndTime=00:00:00\nUseDataDictionary=N\n\n[SESSION]\n"
                       "BeginString=FIX.4.4\nSenderCompID=A\nTargetCompID=B\n"
                       "SocketAcceptPort=1\n")
        try:
            fix.SSLSocketAcceptor(Quiet(), fix.MemoryStoreFactory(),
                                  fix.SessionSettings(str(cfg)))
        except fix.ConfigError as exc:
            assert "HAVE_SSL" in str(exc), exc
            return False
    return True


HAS_SSL = quickfix_has_ssl()


@pytest.fixture
def needs_ssl() -> None:
    if HAS_SSL:
        return
    why = "this quickfix is built without SSL (PyPI's): run scripts/quickfix_ssl.sh"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must test FIX over TLS", pytrace=False)
    pytest.skip(why)


def make_certs(folder: Path) -> Path:
    """A CA of a site's own and two certificates it signed for 127.0.0.1: the OMS's (its
    upstream port) and the broker's."""
    folder.mkdir()

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], cwd=folder, check=True, capture_output=True)

    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=oms-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name in ("oms", "broker"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", f"{name}.pem")
    return folder


def tls_client(port: int, certs: Path) -> RawFixClient:
    """An upstream system over TLS: it trusts the site's CA and checks the OMS's name."""
    tls = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    return RawFixClient("127.0.0.1", port, "CLIENT1", "OMS",
                        wrap=lambda sock: tls.wrap_socket(sock, server_hostname="127.0.0.1"))


def broker_tls(certs: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certs / "broker.pem"), str(certs / "broker.key"))
    return context


def write_config(folder: Path, certs: Path, port: int, more: str = "") -> Path:
    config = folder / "oms.toml"
    config.write_text(CONFIG.format(certs=certs, port=port, more=more))
    return config


def serve(folder: Path, config: Path) -> subprocess.Popen[bytes]:
    """``oms serve`` in its own process, once its admin token is written (it serves)."""
    token = folder / "sessions" / "admin.token"
    token.unlink(missing_ok=True)
    log = (folder / "oms.log").open("ab")
    server = subprocess.Popen([sys.executable, "-m", "oms", "serve", "--config", str(config)],
                              stdout=log, stderr=subprocess.STDOUT)
    log.close()
    wait_until(lambda: token.exists() or server.poll() is not None, timeout=30)
    assert server.poll() is None, (folder / "oms.log").read_text()
    return server


def broker_logged_on(folder: Path) -> None:
    """Wait until the OMS has taken the broker's Logon (the broker has sent it already)."""
    token = folder / "sessions" / "admin.token"
    wait_until(lambda: any(s["role"] == "broker" and s["logged_on"]
                           for s in call(token, "GET", "/sessions")["sessions"]))


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[RawFixBroker, int, Path]]:
    certs = make_certs(tmp_path / "certs")
    port = free_port()
    tls = broker_tls(certs)
    broker = RawFixBroker(port, "BROKER1", "OMS",
                          wrap=lambda sock: tls.wrap_socket(sock, server_side=True))
    try:
        yield broker, port, certs
    finally:
        broker.close()


@pytest.mark.usefixtures("needs_ssl")
def test_an_order_goes_through_the_oms_over_tls_on_both_sides(
        tmp_path: Path, tls_broker: tuple[RawFixBroker, int, Path]) -> None:
    # Arrange
    broker, broker_port, certs = tls_broker
    port = free_port()
    config = write_config(tmp_path, certs, port, BROKER.format(broker_port=broker_port,
                                                               certs=certs))
    server = serve(tmp_path, config)
    client = None
    try:
        logon = broker.accept_logon()
        assert isinstance(broker.sock, ssl.SSLSocket) and broker.sock.version(), broker.sock
        broker_logged_on(tmp_path)
        client = tls_client(port, certs)
        answer = client.logon()

        # Act / Assert: PendingNew, New, two fills, as the plain-text scenario
        play(Scenario.load(SCENARIO), client, broker)
    finally:
        if client is not None:
            client.logout()
        stop_process(server)

    # Assert
    assert logon["35"] == "A" and answer["35"] == "A", (logon, answer)
    assert server.returncode == 0, (tmp_path / "oms.log").read_text()
    assert not listening(port)


@pytest.mark.usefixtures("needs_ssl")
def test_a_client_speaking_fix_in_the_clear_to_the_tls_port_gets_no_fix(
        tmp_path: Path) -> None:
    # Arrange
    certs = make_certs(tmp_path / "certs")
    port = free_port()
    server = serve(tmp_path, write_config(tmp_path, certs, port))
    try:
        client = RawFixClient("127.0.0.1", port, "CLIENT1", "OMS", timeout=3)

        # Act
        try:
            answer: object = client.logon()
        except (ConnectionError, TimeoutError, OSError, ValueError) as exc:
            answer = exc
        finally:
            client.sock.close()
        # the port still takes a TLS client afterwards
        good = tls_client(port, certs)
        try:
            logon = good.logon()
        finally:
            good.logout()
    finally:
        stop_process(server)

    # Assert
    assert not isinstance(answer, dict), f"a Logon in the clear was answered: {answer}"
    assert logon["35"] == "A", logon
    assert server.returncode == 0


@pytest.mark.usefixtures("needs_ssl")
def test_a_tls_server_starts_and_stops_cleanly_again_and_again(
        tmp_path: Path, tls_broker: tuple[RawFixBroker, int, Path]) -> None:
    # QuickFIX has no threaded SSL acceptor: the single-threaded one is what stops here
    broker, broker_port, certs = tls_broker
    port = free_port()
    config = write_config(tmp_path, certs, port, BROKER.format(broker_port=broker_port,
                                                               certs=certs))
    codes = []
    for round_ in range(4):
        # Arrange
        server = serve(tmp_path, config)
        client = None
        try:
            broker.accept_logon()
            if round_ % 2:  # every other round with a client logged on when it stops
                client = tls_client(port, certs)
                assert client.logon()["35"] == "A"
        finally:
            # Act
            stop_process(server)
            if client is not None:
                client.sock.close()
        codes.append(server.returncode)

    # Assert
    assert codes == [0, 0, 0, 0], (tmp_path / "oms.log").read_text()
    assert not listening(port)


def test_a_server_asked_for_ssl_by_a_quickfix_without_ssl_refuses_to_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: PyPI's quickfix, whose SSL acceptor throws this from its constructor
    def without_ssl(*args: object) -> None:
        raise fix.ConfigError("HAVE_SSL not enabled")

    monkeypatch.setattr(fix, "SSLSocketAcceptor", without_ssl)
    port = free_port()
    config = load_config(write_config(tmp_path, make_certs(tmp_path / "certs"), port))
    server = OmsServer(config)

    # Act
    with pytest.raises(ConfigError) as refused:
        try:
            server.start()
        finally:
            server.stop()

    # Assert
    message = str(refused.value)
    assert "SocketUseSSL asks for SSL, but this quickfix was built without it" in message
    assert "HAVE_SSL" in message and "stunnel" in message
    assert not listening(port)  # nothing was served in the clear


def test_a_server_with_ssl_on_one_upstream_session_and_not_another_refuses_to_start(
        tmp_path: Path) -> None:
    # Arrange
    port = free_port()
    config = write_config(tmp_path, make_certs(tmp_path / "certs"), port,
                          SECOND_UPSTREAM.format(port2=free_port()))

    # Act
    done = subprocess.run([sys.executable, "-m", "oms", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)

    # Assert
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, output
    assert "all of them use SSL or none does" in output
    assert "SSL: FIX.4.4:OMS->CLIENT1; not: FIX.4.4:OMS->CLIENT2" in output
    assert not listening(port)
    assert not (tmp_path / "sessions" / "admin.token").exists()
