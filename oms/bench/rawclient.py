"""An independent load client: FIX 4.4 over a plain TCP socket, simplefix, one thread.

``oms sim client`` (the benchmark's own load) and the OMS both run on QuickFIX. This client
shares no code with either: it frames, encodes and parses with simplefix, keeps its own
sequence numbers, answers TestRequests and ResendRequests itself, and takes its clock
readings next to the socket: the send time just before ``sendall`` of the NewOrderSingle,
the receive time as soon as ``recv`` returns the bytes (before they are parsed). So it is a
check on the latency `oms bench` reports with its own client (#3, "beside an independent
load client of our own": ``oms bench --client raw``).

Orders go out open-loop at a fixed rate (order i at start + i/rate, as many at once as a
late loop owes) or, at rate 0, as fast as the window of outstanding orders allows. Each is
a DAY order for one of a few symbols, buy or sell, limit or market, 100-1,000 shares; the
mix is drawn from a seeded generator. An order is done at OrdStatus Filled, Canceled,
Rejected or Expired. What it checks of what comes back: the header CompIDs and MsgSeqNum
(a gap or a repeat is a protocol error), every ExecutionReport has the fields FIX 4.4
requires of it, the ClOrdID names an order sent, ExecIDs are not repeated, CumQty +
LeavesQty <= OrderQty and CumQty equals the sum of LastQty. A session Reject, a
BusinessMessageReject, an OrderCancelReject or a ResendRequest is a protocol error too.
The summary, one JSON document on stdout, has the keys the benchmark reads from ``oms sim
client --json`` (``latency_ms``, ``done``, ``orders_per_s``, ``run_cpu_s``, ...).

    python -m oms.bench.rawclient --port 9876 --sender CLIENT1 --target OMS \
        --orders 10000 --rate 1000

The session logs on with ResetSeqNumFlag (141=Y), so both sides start at 1, and logs out
at the end. No persistence, no resend of its own messages (a ResendRequest is answered with
a gap fill), no cancels or replaces.
"""

from __future__ import annotations

import argparse
import json
import random
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import simplefix

from oms.percentiles import percentiles

TERMINAL = frozenset({b"2", b"4", b"8", b"C"})  # Filled, Canceled, Rejected, Expired
# the body fields FIX 4.4 requires of every ExecutionReport: OrderID, ExecID, ExecType,
# OrdStatus, Symbol, Side, LeavesQty, CumQty, AvgPx
ER_REQUIRED = (37, 17, 150, 39, 55, 54, 151, 14, 6)
SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG", "AMZN")
MAX_ERROR_SAMPLES = 20


def utc_stamp() -> str:
    """UTCTimestamp with milliseconds, as FIX 4.4 sends it."""
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d-%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


@dataclass(frozen=True)
class RawOptions:
    host: str = "127.0.0.1"
    port: int = 9876
    sender: str = "CLIENT1"
    target: str = "OMS"
    orders: int = 1000
    rate: float = 0.0  # orders per second; 0 = as fast as the window allows
    window: int = 200  # orders outstanding at most
    timeout: float = 60.0  # seconds for the whole run after logon
    heartbeat: int = 30
    seed: int = 7
    account: str = "SIM-ACCT"


@dataclass(slots=True)
class _Order:
    qty: Decimal
    sent_at: float
    acked_at: float | None = None
    done_at: float | None = None
    status: bytes = b""
    fills: Decimal = Decimal(0)


@dataclass
class RawLoadClient:
    """One session, one thread; ``run()`` logs on, sends, waits, logs out, summarises."""

    options: RawOptions
    sock: socket.socket | None = None
    parser: simplefix.FixParser = field(default_factory=simplefix.FixParser)
    out_seq: int = 0
    in_seq: int = 0  # the last MsgSeqNum received
    last_sent: float = 0.0
    orders: dict[bytes, _Order] = field(default_factory=dict)
    exec_ids: set[bytes] = field(default_factory=set)
    done: int = 0
    filled: int = 0
    rejected: int = 0
    protocol_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    logged_out: bool = False

    # --- wire ------------------------------------------------------------------------
    def _send(self, msg_type: str, body: list[tuple[int, str]], *, poss_dup: bool = False,
              seq: int | None = None) -> float:
        """Encode and write one message; the time just before it was written."""
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.options.sender, header=True)
        message.append_pair(56, self.options.target, header=True)
        if seq is None:
            self.out_seq += 1
            seq = self.out_seq
        message.append_pair(34, seq, header=True)
        if poss_dup:
            message.append_pair(43, "Y", header=True)
        message.append_pair(52, utc_stamp(), header=True)
        for tag, value in body:
            message.append_pair(tag, value)
        data = message.encode()
        assert self.sock is not None
        sent_at = time.perf_counter()
        self.sock.sendall(data)
        self.last_sent = sent_at
        return sent_at

    def _error(self, description: str) -> None:
        self.protocol_errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(description)

    def _read(self, wait: float) -> bool:
        """Wait up to ``wait`` s for bytes and handle every whole message in them; False
        when the connection closed."""
        assert self.sock is not None
        readable, _, _ = select.select([self.sock], [], [], max(wait, 0.0))
        if not readable:
            return True
        data = self.sock.recv(1 << 20)
        received_at = time.perf_counter()
        if not data:
            return False
        self.parser.append_buffer(data)
        while (message := self.parser.get_message()) is not None:
            self._handle(message, received_at)
        return True

    # --- what comes in ---------------------------------------------------------------
    def _handle(self, message: simplefix.FixMessage, received_at: float) -> None:
        get = message.get
        if get(49) != self.options.target.encode() or get(56) != self.options.sender.encode():
            self._error(f"CompIDs {get(49)!r}->{get(56)!r} on {message}")
        msg_type = get(35)
        seq = int(get(34) or 0)
        if msg_type == b"4" and get(123) != b"Y":  # SequenceReset-Reset: take its number
            self.in_seq = int(get(36) or 0) - 1
            return
        if seq != self.in_seq + 1 and get(43) != b"Y":
            self._error(f"MsgSeqNum {seq}, expected {self.in_seq + 1}")
        self.in_seq = max(self.in_seq, seq)
        if msg_type == b"8":
            self._on_report(message, received_at)
        elif msg_type == b"1":  # TestRequest
            self._send("0", [(112, (get(112) or b"").decode())])
        elif msg_type == b"2":  # ResendRequest: nothing of ours is worth resending
            self._error(f"ResendRequest {get(7)!r}-{get(16)!r}")
            self._send("4", [(123, "Y"), (36, str(self.out_seq + 1))], poss_dup=True,
                       seq=int(get(7) or 1))
        elif msg_type == b"4":  # SequenceReset-GapFill
            self.in_seq = int(get(36) or 0) - 1
        elif msg_type == b"5":
            self.logged_out = True
        elif msg_type in (b"0", b"A"):
            pass
        else:  # 3 Reject, j BusinessMessageReject, 9 OrderCancelReject, anything else
            self._error(f"{msg_type!r}: {(get(58) or b'').decode()}")

    def _on_report(self, message: simplefix.FixMessage, received_at: float) -> None:
        get = message.get
        cl_ord_id, exec_id = get(11), get(17)
        order = self.orders.get(cl_ord_id) if cl_ord_id is not None else None
        if order is None:
            self._error(f"ER for unknown ClOrdID {cl_ord_id!r}")
            return
        missing = [tag for tag in ER_REQUIRED if get(tag) is None]
        if missing:
            self._error(f"ER for {cl_ord_id!r} lacks required tags {missing}")
            if exec_id is None or get(150) is None or get(39) is None:
                return
        if exec_id in self.exec_ids:
            if get(43) != b"Y":
                self._error(f"repeated ExecID {exec_id!r}")
            return
        self.exec_ids.add(exec_id)
        exec_type, status = get(150), get(39)
        cum = Decimal((get(14) or b"0").decode())
        leaves = Decimal((get(151) or b"0").decode())
        if cum + leaves > order.qty:
            self._error(f"{cl_ord_id!r}: CumQty {cum} + LeavesQty {leaves} > {order.qty}")
        if exec_type == b"F":
            order.fills += Decimal((get(32) or b"0").decode())
            if cum != order.fills:
                self._error(f"{cl_ord_id!r}: CumQty {cum} != the sum of LastQty {order.fills}")
        if exec_type in (b"0", b"8") and order.acked_at is None:
            order.acked_at = received_at
        order.status = status
        if status in TERMINAL and order.done_at is None:
            order.done_at = received_at
            self.done += 1
            if status == b"2":
                self.filled += 1
            elif status == b"8":
                self.rejected += 1

    # --- the run ---------------------------------------------------------------------
    def connect(self) -> None:
        options = self.options
        self.sock = socket.create_connection((options.host, options.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send("A", [(98, "0"), (108, str(options.heartbeat)), (141, "Y")])
        deadline = time.monotonic() + 10
        while self.in_seq == 0:
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise ConnectionError("no Logon answer from the server")
        if self.logged_out:
            raise ConnectionError("the server refused the Logon")

    def _new_order(self, index: int, rng: random.Random, run_id: str) -> None:
        cl_ord_id = f"R{run_id}-{index}"
        qty = Decimal(rng.randint(100, 1000))
        body = [(11, cl_ord_id), (1, self.options.account), (55, rng.choice(SYMBOLS)),
                (54, rng.choice(("1", "2"))), (60, utc_stamp()), (38, str(qty))]
        if rng.random() < 0.5:
            cents = rng.randint(1000, 20000)
            body += [(40, "2"), (44, f"{cents // 100}.{cents % 100:02d}")]
        else:
            body.append((40, "1"))
        body.append((59, "0"))
        self.orders[cl_ord_id.encode()] = _Order(qty=qty, sent_at=self._send("D", body))

    def run(self) -> dict[str, object]:
        options = self.options
        rng = random.Random(options.seed)
        run_id = f"{time.time_ns() // 1000:x}"
        self.connect()
        started, cpu_started = time.perf_counter(), time.process_time()
        deadline = started + options.timeout
        sent = 0
        while not self.logged_out:
            now = time.perf_counter()
            while (sent < options.orders and sent - self.done < options.window
                   and (not options.rate or started + sent / options.rate <= now)):
                self._new_order(sent, rng, run_id)
                sent += 1
            if sent == options.orders and self.done == sent:
                break
            if now > deadline:
                self._error(f"timed out with {sent - self.done} orders outstanding")
                break
            if now - self.last_sent > options.heartbeat:
                self._send("0", [])
            wait = 1.0
            if options.rate and sent < options.orders and sent - self.done < options.window:
                wait = started + sent / options.rate - now
            if not self._read(wait):
                self._error("the server closed the connection")
                break
        finished, cpu = time.perf_counter(), time.process_time() - cpu_started
        if self.logged_out and self.done < sent:
            self._error(f"the server logged out with {sent - self.done} orders outstanding")
        self.logout()
        elapsed = finished - started
        orders = self.orders.values()
        return {
            "client": "raw",
            "sent": sent,
            "done": self.done,
            "filled": self.filled,
            "rejected": self.rejected,
            "outstanding": sent - self.done,
            "protocol_errors": self.protocol_errors,
            "protocol_error_samples": self.error_samples,
            "elapsed_s": round(elapsed, 3),
            "run_cpu_s": round(cpu, 3),
            "orders_per_s": round(sent / elapsed, 1) if elapsed else None,
            "latency_ms": {
                "ack": percentiles([o.acked_at - o.sent_at for o in orders
                                    if o.acked_at is not None], scale=1000, digits=3),
                "fill": percentiles([o.done_at - o.sent_at for o in orders
                                     if o.done_at is not None and o.status == b"2"],
                                    scale=1000, digits=3),
            },
        }

    def logout(self) -> None:
        if self.sock is None:
            return
        try:
            if not self.logged_out:
                self._send("5", [])
                deadline = time.monotonic() + 5
                while not self.logged_out and time.monotonic() < deadline:
                    if not self._read(deadline - time.monotonic()):
                        break
        except OSError:
            pass
        finally:
            self.sock.close()
            self.sock = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sender", default="CLIENT1", help="our SenderCompID")
    parser.add_argument("--target", default="OMS", help="the server's CompID")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0, help="orders/s; 0 = max")
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.orders < 0 or args.rate < 0 or args.window < 1 or args.timeout <= 0:
        parser.error("--orders and --rate must be >= 0, --window >= 1, --timeout > 0")
    options = RawOptions(host=args.host, port=args.port, sender=args.sender,
                         target=args.target, orders=args.orders, rate=args.rate,
                         window=args.window, timeout=args.timeout, seed=args.seed)
    try:
        summary = RawLoadClient(options).run()
    except OSError as exc:  # ConnectionError included
        print(f"raw client: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0 if summary["done"] == summary["sent"] and not summary["protocol_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
