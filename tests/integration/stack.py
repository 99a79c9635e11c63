"""A whole OMS stack on loopback for integration tests: broker simulator, OMS, client.

Everything runs on free ports with its FIX stores in a temporary directory; ``Stack`` stops
every engine it started, so no port stays open after a test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oms.bootstrap import OmsServer
from oms.config import OmsConfig, config_to_toml
from oms.localproc import free_port
from oms.sim.broker import BrokerSimOptions, BrokerSimulator
from oms.sim.client import ClientOptions, UpstreamClient


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(step)


def oms_config(folder: Path, database_url: str, *, upstream_port: int, broker_port: int,
               upstream_reset: bool = False, broker_reset: bool = False,
               broker_extra: dict[str, Any] | None = None,
               **oms_overrides: Any) -> OmsConfig:
    return OmsConfig(
        oms={"database_url": database_url, "sessions_dir": str(folder / "oms-sessions"),
             "log_level": "WARNING", **oms_overrides},
        fix={"heartbeat_interval": 5},
        admin={"port": 0},
        upstream=[{"sender_comp_id": "OMS", "target_comp_id": "CLIENT1",
                   "port": upstream_port, "reset_on_logon": upstream_reset}],
        brokers=[{"name": "SIM", "sender_comp_id": "OMS", "target_comp_id": "BROKER1",
                  "host": "127.0.0.1", "port": broker_port, "reconnect_interval": 1,
                  "reset_on_logon": broker_reset, **(broker_extra or {})}],
        routing={"default_route": "SIM", "destinations": {"XNYS": "SIM"}},
        base_dir=folder,
    )


@dataclass
class Stack:
    folder: Path
    database_url: str
    broker_options: dict[str, Any] = field(default_factory=dict)
    oms_overrides: dict[str, Any] = field(default_factory=dict)
    broker_extra: dict[str, Any] = field(default_factory=dict)  # more [[brokers]] keys
    upstream_reset: bool = False  # the upstream session restarts sequence numbers at logon
    broker_reset: bool = False  # ... and the broker session
    upstream_port: int = field(default_factory=free_port)
    broker_port: int = field(default_factory=free_port)
    broker: BrokerSimulator | None = None
    server: OmsServer | None = None
    clients: list[UpstreamClient] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> OmsConfig:
        return oms_config(self.folder, self.database_url, upstream_port=self.upstream_port,
                          broker_port=self.broker_port, upstream_reset=self.upstream_reset,
                          broker_reset=self.broker_reset, broker_extra=self.broker_extra,
                          **self.oms_overrides)

    def start_broker(self) -> BrokerSimulator:
        options = BrokerSimOptions(
            sessions_dir=self.folder / "broker-sessions", port=self.broker_port,
            sender_comp_id="BROKER1", target_comp_ids=["OMS"],
            **{"fill_interval": 0.0, "seed": 7, "reset_on_logon": self.broker_reset,
               **self.broker_options})
        self.broker = BrokerSimulator(options)
        self.broker.start()
        return self.broker

    def start_oms(self, before_logon: Callable[[], Any] | None = None) -> OmsServer:
        """The OMS in this process, once logged on to the broker; ``before_logon`` runs
        after it starts (a scripted broker answering its Logon, tests/acceptance)."""
        self.server = OmsServer(self.config)
        self.server.start()
        if before_logon is not None:
            before_logon()
        wait_until(lambda: self.server and self.server.application and
                   self.server.application.is_logged_on("FIX.4.4:OMS->BROKER1"))
        return self.server

    def start_oms_process(self) -> subprocess.Popen[bytes]:
        """The real ``oms serve`` in its own process (for kill -9 tests)."""
        config_path = self.folder / "oms.toml"
        config_path.write_text(config_to_toml(self.config))
        token = self.config.admin_token_path
        token.unlink(missing_ok=True)
        log = open(self.folder / "oms.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oms", "serve", "--config", str(config_path)],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(token.exists, timeout=30)
        return self.process

    def client(self, **options: Any) -> UpstreamClient:
        client = UpstreamClient(ClientOptions(
            sessions_dir=self.folder / "client-sessions", port=self.upstream_port,
            sender_comp_id="CLIENT1", target_comp_id="OMS", heartbeat_interval=5,
            **{"seed": 11, "timeout": 20, "reset_on_logon": self.upstream_reset, **options}))
        client.start()
        self.clients.append(client)
        assert client.wait_logged_on(15), "client did not log on to the OMS"
        return client

    def stop_oms(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None

    def stop(self) -> None:
        for client in self.clients:
            client.stop()
        self.clients.clear()
        self.stop_oms()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
