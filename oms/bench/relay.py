"""The benchmark baseline: a do-nothing QuickFIX relay between one client and one broker.

What it does: reads an OMS config file and opens the same two sessions the OMS would, with
the same settings (``upstream[0]`` as an acceptor, ``brokers[0]`` as an initiator, FileStores
under the config's sessions dir, SocketNodelay, data-dictionary validation: the same
``oms.bootstrap.session_specs`` and ``oms.fix.settings.engine_defaults``). Each NewOrderSingle
from the client is copied, given a new ClOrdID and sent to the broker; each ExecutionReport
from the broker is copied, given back the client's ClOrdID and sent to the client. So an order
costs the relay the same messages it costs the OMS: D in, D out, 2 x (8 in, 8 out).

What it does not do: no validation, no state, no risk, no database, no journal, no batching;
any other message type is refused (BusinessMessageReject). It exists to measure what QuickFIX
and the Python bindings cost on their own, so ``oms bench`` can report OMS / relay.

While the broker session is logged on, ``<sessions_dir>/relay.ready`` exists. On stop the
relay writes ``<sessions_dir>/relay-stats.json``: its own D-in -> D-out latency in
microseconds, over the orders of the latest client logon (a warm-up session is left out).

Run it: ``python -m oms.bench.relay --config oms.toml``; SIGTERM or SIGINT stop it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import signal
import threading
import time
from pathlib import Path

import quickfix as fix

from oms.bench.runner import READY_FILE, STATS_FILE
from oms.bootstrap import fix_defaults, session_specs
from oms.config import OmsConfig, load_config
from oms.fix.engine import Engine, copy_session_id, keeps_thread_state
from oms.percentiles import percentiles

log = logging.getLogger(__name__)

TERMINAL_ORD_STATUSES = frozenset("248C")  # Filled, Canceled, Rejected, Expired


@keeps_thread_state
class RelayApplication(fix.Application):  # type: ignore[misc]
    """Forwards D client -> broker and 8 broker -> client; see the module doc."""

    def __init__(self, upstream_key: str, broker_key: str, ready_path: Path) -> None:
        super().__init__()
        self.upstream_key = upstream_key
        self.broker_key = broker_key
        self.ready_path = ready_path
        self.session_ids: dict[str, fix.SessionID] = {}
        self.latency_ns: list[int] = []  # D received -> child D sent, latest client logon
        self._client_cl_ord_ids: dict[str, str] = {}  # our ClOrdID -> the client's
        self._child_ids = (f"R{n}" for n in itertools.count(1))

    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self.session_ids[session_id.toString()] = copy_session_id(session_id)

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        log.info("relay: %s logged on", key)
        if key == self.broker_key:
            self.ready_path.touch()
        elif key == self.upstream_key:
            self.latency_ns = []  # figures cover the latest client session only

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        key = session_id.toString()
        log.info("relay: %s logged out", key)
        if key == self.broker_key:
            self.ready_path.unlink(missing_ok=True)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        received_ns = time.perf_counter_ns()
        msg_type = message.getHeader().getField(35)
        key = session_id.toString()
        if key == self.upstream_key and msg_type == "D":
            child_id = next(self._child_ids)
            self._client_cl_ord_ids[child_id] = message.getField(11)
            child = fix.Message(message)
            child.setField(11, child_id)
            fix.Session.sendToTarget(child, self.session_ids[self.broker_key])
            self.latency_ns.append(time.perf_counter_ns() - received_ns)
        elif key == self.broker_key and msg_type == "8":
            child_id = message.getField(11)
            if message.getField(39) in TERMINAL_ORD_STATUSES:
                client_id = self._client_cl_ord_ids.pop(child_id, None)
            else:
                client_id = self._client_cl_ord_ids.get(child_id)
            if client_id is None:
                log.warning("relay: ExecutionReport for unknown ClOrdID %s", child_id)
                return
            report = fix.Message(message)
            report.setField(11, client_id)
            fix.Session.sendToTarget(report, self.session_ids[self.upstream_key])
        else:
            raise fix.UnsupportedMessageType()


class Relay:
    """The two engines and the application, started and stopped together."""

    def __init__(self, config: OmsConfig) -> None:
        if not config.upstream or not config.brokers:
            raise ValueError("the relay needs one [[upstream]] and one [[brokers]] session")
        upstream_specs, broker_specs = session_specs(config)
        upstream, broker = upstream_specs[0], broker_specs[0]
        self.sessions_dir = config.sessions_path
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.ready_path = self.sessions_dir / READY_FILE
        self.ready_path.unlink(missing_ok=True)
        self.application = RelayApplication(upstream.key, broker.key, self.ready_path)
        # the same settings as OmsServer.start, so both processes run identical sessions
        defaults = fix_defaults(config)
        self.acceptor = Engine("acceptor", self.application,
                               self.sessions_dir / "acceptor.cfg", defaults, [upstream])
        self.initiator = Engine("initiator", self.application,
                                self.sessions_dir / "initiator.cfg", defaults, [broker])

    def start(self) -> None:
        self.acceptor.start()
        self.initiator.start()

    def stop(self) -> None:
        self.acceptor.stop()
        self.initiator.stop()
        self.ready_path.unlink(missing_ok=True)
        stats = {"internal_latency_us": percentiles(self.application.latency_ns, scale=1e-3)}
        (self.sessions_dir / STATS_FILE).write_text(json.dumps(stats))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m oms.bench.relay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="OMS config file (TOML)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    relay = Relay(load_config(args.config))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    relay.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        relay.stop()


if __name__ == "__main__":
    main()
