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

``>`` lines are sent (header, TransactTime ``60=<TIME>`` and trailer are filled in; 43, 97
and 122 go into the header); ``<``
lines name the fields the next application message must carry (other fields may be there
too; ``*`` matches any value, ``$NAME`` a remembered one, ``!`` means the tag is absent).
Heartbeats and TestRequests are answered and skipped. No validation of our own happens
here beyond BodyLength and CheckSum, which simplefix computes.

``broker: script`` puts a scripted broker in place of the simulator: a raw FIX 4.4 acceptor
(``RawFixBroker``, simplefix too) that the OMS logs on to, and that does only what the
script says. Its lines are the same with a ``B`` in front: ``B>`` the broker sends, ``B<``
the next application message the OMS sends the broker, ``B= 11 CHILD`` remembers a tag of
that message, ``B!`` drops its connection, ``B+`` takes the OMS's next one (it reconnects
on its own) and answers its Logon, sequence numbers going on; ``B+ reset`` answers it with
sequence numbers reset instead (ResetSeqNumFlag 141=Y, MsgSeqNum 1: a broker configured to
reset at each logon, #16), and takes the Logon the OMS answers that with. This is how a
broker other than ours talks to the OMS: PendingNew before New, PendingCancel, busts and
corrections, reports the simulator never sends. ``~ 0.5`` waits half a second (for the OMS
to notice a dropped connection).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import simplefix

from oms.bench.rawclient import utc_stamp  # the benchmark's independent client, no QuickFIX

SOH = "\x01"
# tags a script may give that belong in the header: PossDupFlag, PossResend, OrigSendingTime
HEADER_TAGS = frozenset({"43", "97", "122"})
# what a connected socket goes through first (e.g. ssl.SSLContext.wrap_socket: FIX over TLS)
Wrap = Callable[[socket.socket], socket.socket]


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
            elif line == "B!":
                scenario.steps.append((line, (number, None)))
            elif line.split()[0] == "B+":
                option = line.removeprefix("B+").strip()
                if option not in ("", "reset"):
                    raise ValueError(f"{path.name}:{number}: B+ takes only 'reset': {raw!r}")
                scenario.steps.append(("B+", (number, option == "reset")))
            elif line.startswith("~"):
                scenario.steps.append(("~", (number, float(line[1:]))))
            elif line[0] in "><" or line[:2] in ("B>", "B<"):
                kind = line[:2] if line[0] == "B" else line[0]
                scenario.steps.append((kind, (number, parse_fields(line[len(kind):]))))
            elif line[0] == "=" or line.startswith("B="):
                kind = line[:2] if line[0] == "B" else line[0]
                tag, name = line[len(kind):].split()
                scenario.steps.append((kind, (number, (tag, name))))
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


class RawFixSession:
    """One FIX 4.4 connection, either side: sends with our header, receives as dicts."""

    peer = "the OMS"

    def __init__(self, sock: socket.socket, sender: str, target: str,
                 timeout: float = 10.0) -> None:
        self.sender, self.target, self.timeout = sender, target, timeout
        self.sock = sock
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
            message.append_pair(int(tag), utc_stamp() if value == "<TIME>" else value,
                                header=tag in HEADER_TAGS)
        self.sock.sendall(message.encode())

    def receive(self, deadline: float | None = None) -> dict[str, str]:
        """The next message, as tag -> value (repeated tags keep the first value), by
        ``deadline`` (``time.monotonic``; default: ``timeout`` from now)."""
        if deadline is None:
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
                raise TimeoutError(f"no message from {self.peer} in time")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"{self.peer} closed the connection")
            self.parser.append_buffer(data)

    def receive_application(self) -> dict[str, str]:
        # one deadline for the whole wait: heartbeats must not keep a wait for a message
        # that never comes going for ever
        deadline = time.monotonic() + self.timeout
        while True:
            fields = self.receive(deadline)
            msg_type = fields["35"]
            if msg_type == "1":  # TestRequest: answer it
                self.send([("35", "0"), ("112", fields.get("112", ""))])
            elif msg_type in ("0", "2", "4"):
                continue
            else:
                return fields

    def logout(self) -> None:
        try:
            self.send([("35", "5")])
            while self.receive()["35"] != "5":
                pass
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            self.sock.close()


class RawFixClient(RawFixSession):
    """A minimal FIX 4.4 initiator: the upstream system."""

    def __init__(self, host: str, port: int, sender: str, target: str,
                 timeout: float = 10.0, wrap: Wrap | None = None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        super().__init__(wrap(sock) if wrap is not None else sock, sender, target, timeout)

    def logon(self) -> dict[str, str]:
        self.send([("35", "A"), ("98", "0"), ("108", "30"), ("141", "Y")])
        return self.receive()


class RawFixBroker(RawFixSession):
    """A minimal FIX 4.4 acceptor for one initiator: a broker that does what it is told.

    It listens on ``port`` from the start, so the OMS can be started after it;
    ``accept_logon`` takes the OMS's connection (its first, or its next after a drop: it
    reconnects on its own) and answers its Logon with the same HeartBtInt, sequence
    numbers going on, or with ``reset`` starting them again at 1. ``wrap``, when given,
    takes each accepted connection first (a TLS broker: ``SSLContext.wrap_socket``)."""

    def __init__(self, port: int, sender: str, target: str, timeout: float = 10.0,
                 wrap: Wrap | None = None) -> None:
        self.wrap = wrap
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.listener.settimeout(timeout)
        super().__init__(socket.socket(), sender, target, timeout)  # until accept_logon

    def accept_logon(self, reset: bool = False) -> dict[str, str]:
        deadline = time.monotonic() + self.timeout
        while True:
            self.sock.close()
            self.sock, _ = self.listener.accept()
            self.parser = simplefix.FixParser()
            try:
                if self.wrap is not None:
                    self.sock = self.wrap(self.sock)
                logon = self.receive(deadline)
                break
            except (ConnectionError, ssl.SSLError):
                # a connection closed before any message (the OMS's connect watch looking
                # whether the address answers): as a broker's acceptor does, drop it and
                # take the next
                continue
        assert logon["35"] == "A", f"the OMS's first message is not a Logon: {logon}"
        answer = [("35", "A"), ("98", "0"), ("108", logon.get("108", "30"))]
        if not reset:
            self.send(answer)
            return logon
        self.seq = 0  # our Logon goes out as MsgSeqNum 1
        self.send([*answer, ("141", "Y")])
        if logon.get("141") != "Y":
            # QuickFIX answers a Logon with 141=Y it did not ask for with a Logon of its
            # own (141=Y, its numbers reset too; Session::nextLogon)
            again = self.receive()
            assert again["35"] == "A" and again.get("141") == "Y" and again["34"] == "1", \
                f"the OMS did not answer our reset Logon with its own: {again}"
        return logon

    def close(self) -> None:
        self.sock.close()
        self.listener.close()


def play(scenario: Scenario, client: RawFixClient, broker: RawFixBroker | None = None) -> None:
    """Play the scenario; raise AssertionError naming the line on the first mismatch."""
    remembered: dict[str, str] = {}
    last = {"": {}, "B": {}}  # the last message each side received
    for kind, (number, payload) in scenario.steps:  # type: ignore[misc]
        where = f"{scenario.path.name}:{number}"
        side = kind[0] if kind[0] == "B" else ""
        session: RawFixSession | None = broker if side else client
        assert session is not None, f"{where}: a broker line needs 'broker: script'"
        if kind == "~":
            time.sleep(payload)
        elif kind == "B!":
            session.sock.close()
        elif kind == "B+":
            assert isinstance(session, RawFixBroker)
            session.accept_logon(reset=bool(payload))
        elif kind[-1] == ">":
            session.send([(t, remembered.get(v[1:], v) if v.startswith("$") else v)
                          for t, v in payload])
        elif kind[-1] == "<":
            try:
                got = last[side] = session.receive_application()
            except (TimeoutError, ConnectionError) as exc:
                raise AssertionError(f"{where}: expected {payload}, got nothing: {exc}") from exc
            for tag, expected in payload:
                actual = got.get(tag)
                if expected == "!":
                    assert actual is None, f"{where}: tag {tag} should be absent: {got}"
                    continue
                if expected.startswith("$"):
                    expected = remembered[expected[1:]]
                assert actual is not None, f"{where}: tag {tag} missing: {got}"
                if expected != "*":
                    assert actual == expected, \
                        f"{where}: tag {tag} is {actual!r}, expected {expected!r}: {got}"
        else:
            tag, name = payload
            remembered[name] = last[side][tag]
