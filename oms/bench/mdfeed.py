"""A recorded market-data publisher: FIX 4.4 over a plain TCP socket, simplefix, one thread.

The load on the other side of a market-data session, for benchmarks (#20): it shares no
code with QuickFIX or the OMS's feed. It listens, takes one connection at a time (the OMS's
``[[marketdata_sessions]]`` initiator), answers its Logon, and answers each
MarketDataRequest (V) with a MarketDataSnapshotFullRefresh (W) per symbol. Then it streams
MarketDataIncrementalRefresh (X) messages made in advance from ``MarketGenerator``'s seeded
events ("recorded"): each event is one update, a quote (a change of the top bid and the top
offer, entries keyed by MDEntryType, as top-of-book feeds send them) or a trade print (a new
entry of type 2). ``--per-message K`` events go in one X (entries carry Symbol, no MDReqID,
as a multi-symbol feed sends them); only subscribed symbols' events are sent.

``--rate R``: R updates per second, paced (message i at start + i*K/R); 0: as fast as the
socket takes them (``sendall`` blocks while the receiver is behind, so the receiver sets
the pace). ``--updates N`` stops streaming after N updates (0: the recorded events again and
again until stopped). On SIGTERM or the peer's Logout it prints one JSON line: updates and
messages sent, seconds from the first X to the last.

    python -m oms.bench.mdfeed --port 9890 --rate 10000 --per-message 4

Sequence numbers start at 1 on each connection (the initiator must log on with
ResetSeqNumFlag or ResetOnLogon=Y); a ResendRequest is answered with a gap fill.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import simplefix

from oms.marketdata.generator import DEFAULT_SYMBOLS, MarketGenerator, QuoteEvent

SOH = "\x01"


def utc_stamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d-%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


def event_entries(event: object) -> str:
    """One event's X entries as FIX text (each field followed by SOH)."""
    if isinstance(event, QuoteEvent):
        return (f"279=1{SOH}269=0{SOH}55={event.symbol}{SOH}270={event.bid}{SOH}"
                f"271={event.bid_size}{SOH}279=1{SOH}269=1{SOH}55={event.symbol}{SOH}"
                f"270={event.ask}{SOH}271={event.ask_size}{SOH}")
    return (f"279=0{SOH}269=2{SOH}55={event.symbol}{SOH}270={event.px}{SOH}"  # type: ignore[attr-defined]
            f"271={event.qty}{SOH}")  # type: ignore[attr-defined]


def entry_count(event: object) -> int:
    return 2 if isinstance(event, QuoteEvent) else 1


@dataclass(frozen=True)
class FeedOptions:
    host: str = "127.0.0.1"
    port: int = 9890
    sender: str = "MARKET"  # our CompID
    symbols: Sequence[str] = DEFAULT_SYMBOLS
    seed: int = 1
    rate: float = 10_000.0  # updates per second; 0: as fast as the socket takes them
    per_message: int = 4  # updates (events) per X
    updates: int = 0  # stop after this many; 0: never
    recorded: int = 50_000  # events made in advance (streamed again and again)


@dataclass
class MarketDataPublisher:
    """One listening socket, one connection at a time, one thread (``serve``)."""

    options: FeedOptions
    listener: socket.socket | None = None
    sock: socket.socket | None = None
    parser: simplefix.FixParser = field(default_factory=simplefix.FixParser)
    target: str = ""
    out_seq: int = 0
    heartbeat: float = 30.0
    last_sent: float = 0.0
    subscribed: dict[str, str] = field(default_factory=dict)  # symbol -> MDReqID
    updates_sent: int = 0
    messages_sent: int = 0
    first_x: float | None = None
    last_x: float | None = None
    stopping: bool = False
    _recorded: list[tuple[str, str, int]] = field(default_factory=list)  # symbol, text, entries
    _last: dict[str, QuoteEvent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        generator = MarketGenerator(list(self.options.symbols), seed=self.options.seed)
        self._last = dict(generator.last)
        self._recorded = [(e.symbol, event_entries(e), entry_count(e))
                          for e in generator.take(self.options.recorded)]

    # --- wire ------------------------------------------------------------------------
    def _send(self, msg_type: str, body: str, seq: int | None = None, poss_dup: bool = False
              ) -> None:
        if seq is None:
            self.out_seq += 1
            seq = self.out_seq
        header = (f"35={msg_type}{SOH}49={self.options.sender}{SOH}56={self.target}{SOH}"
                  f"34={seq}{SOH}{'43=Y' + SOH if poss_dup else ''}52={utc_stamp()}{SOH}")
        payload = (header + body).encode()
        head = f"8=FIX.4.4{SOH}9={len(payload)}{SOH}".encode() + payload
        data = head + f"10={sum(head) % 256:03d}{SOH}".encode()
        assert self.sock is not None
        self.sock.sendall(data)
        self.last_sent = time.monotonic()

    # --- what comes in ---------------------------------------------------------------
    def _read(self, wait: float) -> bool:
        """Handle what arrives within ``wait`` s; False when the connection is over."""
        assert self.sock is not None
        readable, _, _ = select.select([self.sock], [], [], max(wait, 0.0))
        if not readable:
            return True
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            return False
        if not data:
            return False
        self.parser.append_buffer(data)
        while (message := self.parser.get_message()) is not None:
            if not self._handle(message):
                return False
        return True

    def _handle(self, message: simplefix.FixMessage) -> bool:
        get = message.get
        msg_type = get(35)
        if msg_type == b"A":
            self.target = (get(49) or b"").decode()
            self.heartbeat = float(get(108) or 30)
            self.out_seq = 0
            self._send("A", f"98=0{SOH}108={int(self.heartbeat)}{SOH}141=Y{SOH}")
        elif msg_type == b"V":
            self._on_request(message)
        elif msg_type == b"1":
            self._send("0", f"112={(get(112) or b'').decode()}{SOH}")
        elif msg_type == b"2":  # nothing of ours is worth resending
            self._send("4", f"123=Y{SOH}36={self.out_seq + 1}{SOH}",
                       seq=int(get(7) or 1), poss_dup=True)
        elif msg_type == b"5":
            self._send("5", "")
            return False
        return True

    def _on_request(self, message: simplefix.FixMessage) -> None:
        req_id = (message.get(262) or b"").decode()
        kind = message.get(263)
        symbols = [value.decode() for tag, value in message.pairs if tag == b"55"]
        for symbol in symbols:
            if kind == b"2":
                self.subscribed.pop(symbol, None)
                continue
            quote = self._last.get(symbol)
            if quote is None:
                self._send("Y", f"262={req_id}{SOH}281=0{SOH}58=unknown symbol {symbol}{SOH}")
                continue
            self.subscribed[symbol] = req_id
            self._send("W", f"262={req_id}{SOH}55={symbol}{SOH}268=2{SOH}"
                            f"269=0{SOH}270={quote.bid}{SOH}271={quote.bid_size}{SOH}"
                            f"269=1{SOH}270={quote.ask}{SOH}271={quote.ask_size}{SOH}")

    # --- the stream ------------------------------------------------------------------
    def _stream(self, started: float, position: int) -> int:
        """Send the messages due by now; the recorded position after them."""
        options = self.options
        recorded, subscribed = self._recorded, self.subscribed
        limit = options.updates or None
        now = time.perf_counter()
        # rate 0: one message per call, so reads are not starved
        due = (int((now - started) * options.rate / options.per_message) + 1 - self.messages_sent
               if options.rate else 1)
        for _ in range(max(due, 0)):
            if limit is not None and self.updates_sent >= limit:
                break
            parts: list[str] = []
            entries = updates = 0
            tries = 0
            while updates < options.per_message and tries < len(recorded):
                symbol, text, count = recorded[position]
                position = (position + 1) % len(recorded)
                tries += 1
                if symbol in subscribed:
                    parts.append(text)
                    entries += count
                    updates += 1
                    if limit is not None and self.updates_sent + updates >= limit:
                        break
            if not updates:
                break
            self._send("X", f"268={entries}{SOH}{''.join(parts)}")
            if self.first_x is None:
                self.first_x = time.perf_counter()
            self.last_x = time.perf_counter()
            self.updates_sent += updates
            self.messages_sent += 1
        return position

    def _session(self) -> None:
        """One connection, from its Logon to its end."""
        started: float | None = None
        position = 0
        options = self.options
        first_request: float | None = None
        while not self.stopping:
            if self.subscribed and first_request is None:
                first_request = time.monotonic()
            # every symbol asked for, or a second since the first request: a stream that
            # began with the first symbol would hold that symbol alone for a while
            ready = first_request is not None and (
                len(self.subscribed) == len(self._last)
                or time.monotonic() - first_request > 1.0)
            streaming = ready and not (
                options.updates and self.updates_sent >= options.updates)
            if streaming and started is None:
                started = time.perf_counter()
            wait = self.heartbeat
            if streaming and started is not None:
                position = self._stream(started, position)
                wait = 0.0 if not options.rate else max(
                    0.0, started + (self.messages_sent * options.per_message) / options.rate
                    - time.perf_counter())
            if not ready and first_request is not None:
                wait = 0.05
            if not self._read(min(wait, 1.0)):
                return
            if self.target and time.monotonic() - self.last_sent > self.heartbeat:
                self._send("0", "")

    def serve(self) -> None:
        options = self.options
        listener = self.listener = socket.create_server((options.host, options.port))
        try:
            while not self.stopping:
                readable, _, _ = select.select([listener], [], [], 0.5)
                if not readable:
                    continue
                self.sock, _ = listener.accept()
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    self._session()
                except OSError:
                    pass
                finally:
                    self.sock.close()
                    self.sock = None
                    self.subscribed.clear()
                    self.parser = simplefix.FixParser()
        finally:
            listener.close()

    def summary(self) -> dict[str, object]:
        elapsed = (self.last_x - self.first_x) if self.first_x and self.last_x else 0.0
        return {"updates_sent": self.updates_sent, "messages_sent": self.messages_sent,
                "per_message": self.options.per_message, "rate": self.options.rate,
                "elapsed_s": round(elapsed, 3),
                "updates_per_s": round(self.updates_sent / elapsed) if elapsed else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sender", default="MARKET", help="our CompID")
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=10_000.0, help="updates/s; 0 = max")
    parser.add_argument("--per-message", type=int, default=4)
    parser.add_argument("--updates", type=int, default=0, help="stop after N; 0 = never")
    parser.add_argument("--recorded", type=int, default=50_000)
    args = parser.parse_args(argv)
    symbols = [s for s in args.symbols.split(",") if s]
    if args.rate < 0 or args.per_message < 1 or args.updates < 0 or args.recorded < 1 \
            or not symbols:
        parser.error("--rate and --updates must be >= 0, --per-message and --recorded >= 1, "
                     "--symbols not empty")
    publisher = MarketDataPublisher(FeedOptions(
        host=args.host, port=args.port, sender=args.sender, symbols=symbols, seed=args.seed,
        rate=args.rate, per_message=args.per_message, updates=args.updates,
        recorded=args.recorded))

    def stop(signum: int, frame: object) -> None:
        publisher.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        publisher.serve()
    except OSError as exc:
        print(f"market-data publisher: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(publisher.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
