"""Scripted FIX conversations, played by a raw FIX 4.4 client written with simplefix.

This client shares no code with the OMS's FIX layer (quickfix): it is how an independent
upstream system sees the wire. A scenario is a text file:

    # @case      what the conversation shows
    # @condition the situation
    # @expected  what must come back
    broker: fill_mode=none              (options for the broker simulator, optional)
    > 35=D|11=A1|55=IBM|54=1|38=100|40=2|44=10.5|59=0
    < 35=8|11=A1|150=0|39=0|38=100|151=100|14=0
    = 37 A1                             (remember tag 37 of the last message as $A1)

``>`` lines are sent (header, TransactTime ``60=<TIME>`` and trailer are filled in); ``<``
lines name the fields the next application message must carry (other fields may be there
too; ``*`` matches any value, ``$NAME`` a remembered one, ``!`` means the tag is absent).
Heartbeats and TestRequests are answered and skipped. No validation of our own happens
here beyond BodyLength and CheckSum, which simplefix computes.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import simplefix

from oms.bench.rawclient import utc_stamp  # the benchmark's independent client, no QuickFIX

SOH = "\x01"


def parse_fields(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.strip().split("|"):
        if item:
            tag, _, value = item.partition("=")
            pairs.append((tag.strip(), value.strip()))
    return pairs


@dataclass
class Scenario:
    path: Path
    case: str = ""
    broker: dict[str, object] = field(default_factory=dict)
    steps: list[tuple[str, object]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        scenario = cls(path)
        for number, raw in enumerate(path.read_text().splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("# @case"):
                scenario.case = line.removeprefix("# @case").strip()
            elif line.startswith("#"):
                continue
            elif line.startswith("broker:"):
                for item in line.removeprefix("broker:").split():
                    key, _, value = item.partition("=")
                    scenario.broker[key] = _option(value)
            elif line[0] in "><":
                scenario.steps.append((line[0], (number, parse_fields(line[1:]))))
            elif line.startswith("="):
                tag, name = line[1:].split()
                scenario.steps.append(("=", (number, (tag, name))))
            else:
                raise ValueError(f"{path.name}:{number}: cannot read {raw!r}")
        return scenario


def _option(value: str) -> object:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


class RawFixClient:
    """A minimal FIX 4.4 initiator over one TCP connection."""

    def __init__(self, host: str, port: int, sender: str, target: str,
                 timeout: float = 10.0) -> None:
        self.sender, self.target, self.timeout = sender, target, timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.parser = simplefix.FixParser()
        self.seq = 0

    def send(self, pairs: list[tuple[str, str]]) -> None:
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        body = [(t, v) for t, v in pairs if t != "35"]
        msg_type = dict(pairs)["35"]
        self.seq += 1
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.sender, header=True)
        message.append_pair(56, self.target, header=True)
        message.append_pair(34, self.seq, header=True)
        message.append_pair(52, utc_stamp(), header=True)
        for tag, value in body:
            message.append_pair(int(tag), utc_stamp() if value == "<TIME>" else value)
        self.sock.sendall(message.encode())

    def receive(self) -> dict[str, str]:
        """The next message, as tag -> value (repeated tags keep the first value)."""
        deadline = time.monotonic() + self.timeout
        while True:
            message = self.parser.get_message()
            if message is not None:
                fields: dict[str, str] = {}
                for tag, value in message:
                    name = tag.decode() if isinstance(tag, bytes) else str(tag)
                    fields.setdefault(name, value.decode())
                return fields
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message from the OMS in time")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the OMS closed the connection")
            self.parser.append_buffer(data)

    def receive_application(self) -> dict[str, str]:
        while True:
            fields = self.receive()
            msg_type = fields["35"]
            if msg_type == "1":  # TestRequest: answer it
                self.send([("35", "0"), ("112", fields.get("112", ""))])
            elif msg_type in ("0", "2", "4"):
                continue
            else:
                return fields

    def logon(self) -> dict[str, str]:
        self.send([("35", "A"), ("98", "0"), ("108", "30"), ("141", "Y")])
        return self.receive()

    def logout(self) -> None:
        try:
            self.send([("35", "5")])
            while self.receive()["35"] != "5":
                pass
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            self.sock.close()


def play(scenario: Scenario, client: RawFixClient) -> None:
    """Play the scenario; raise AssertionError naming the line on the first mismatch."""
    remembered: dict[str, str] = {}
    last: dict[str, str] = {}
    for kind, (number, payload) in scenario.steps:  # type: ignore[misc]
        where = f"{scenario.path.name}:{number}"
        if kind == ">":
            client.send([(t, remembered.get(v[1:], v) if v.startswith("$") else v)
                         for t, v in payload])
        elif kind == "<":
            last = client.receive_application()
            for tag, expected in payload:
                actual = last.get(tag)
                if expected == "!":
                    assert actual is None, f"{where}: tag {tag} should be absent: {last}"
                    continue
                if expected.startswith("$"):
                    expected = remembered[expected[1:]]
                assert actual is not None, f"{where}: tag {tag} missing: {last}"
                if expected != "*":
                    assert actual == expected, \
                        f"{where}: tag {tag} is {actual!r}, expected {expected!r}: {last}"
        else:
            tag, name = payload
            remembered[name] = last[tag]
