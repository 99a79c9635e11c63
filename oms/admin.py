"""The admin interface: a small authenticated HTTP/JSON server on loopback.

Commands that change a running server (``oms orders cancel`` now; kill switch and session
commands later) go through it. It listens on 127.0.0.1 by default, and every request must
carry ``Authorization: Bearer <token>``, except the three a monitoring system polls
(``/metrics``, ``/health``, ``/ready``) when they come from loopback: a Prometheus or a
load balancer's probe has no token file to read, and they change nothing. At start the
server writes the token and the port it listens on to the token file (mode 0600) under the
sessions directory; the CLI reads it there.

Routes: ``GET /metrics`` (Prometheus text, ``oms.metrics``), ``GET /health`` (liveness: 200
while the core thread runs, else 503), ``GET /ready`` (200 when the database answers and
every session is logged on, else 503 saying what is not ready), ``GET /sessions``, ``GET
/stats`` (counters, the core's internal latency percentiles and where that time goes: queue
wait, batch, commit, send), ``POST /stats/reset`` (start a new latency sample, e.g. after a
benchmark's warm-up), ``POST /orders/<order_id>/cancel``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from oms.app.commands import OPERATOR_SESSION, OperatorCancel, OperatorOrder, SubmitOrder
from oms.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from oms.bootstrap import OmsServer

log = logging.getLogger(__name__)

# what a monitoring system polls: read-only, answered without a token to a loopback peer
OPEN_ROUTES = frozenset({"/metrics", "/health", "/ready"})


class AdminError(Exception):
    """The admin interface could not be reached or refused the request."""


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, mode 0600, so that a reader sees either the old file (or
    none) or the whole new one: a temporary file beside it, renamed over it. (Written in
    place, a client polling for the token at start-up could read it empty.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)  # whatever the umask made of it
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class AdminServer:
    def __init__(self, server: OmsServer, host: str, port: int, token_path: Path) -> None:
        self.server = server
        self.token = secrets.token_urlsafe(32)
        self.token_path = token_path
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        write_private_file(self.token_path, json.dumps(
            {"host": self.host, "port": self.port, "token": self.token}))
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="oms-admin",
                                        daemon=True)
        self._thread.start()
        log.info("admin interface on http://%s:%s", self.host, self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        try:
            self.token_path.unlink()
        except FileNotFoundError:
            pass

    # --- actions -----------------------------------------------------------------------
    def new_order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """#21: an operator's order (``oms rebalance``): account, symbol, side (a FIX Side
        value), qty, and ord_type (1 market, 2 limit, with price); taken through the
        client's path (checks, routing) under ``OPERATOR_SESSION``."""
        core = self.server.core
        if core is None:
            return 503, {"ok": False, "error": "server is not running"}
        try:
            qty = Decimal(str(body["qty"]))
            price = Decimal(str(body["price"])) if body.get("price") is not None else None
            submit = SubmitOrder(
                session=OPERATOR_SESSION, seq_num=0, raw=f"operator order {json.dumps(body)}",
                cl_ord_id=str(body.get("cl_ord_id") or f"OP-{secrets.token_hex(8)}"),
                symbol=str(body["symbol"]), side=str(body["side"]),
                ord_type=str(body.get("ord_type", "1")), order_qty=qty, price=price,
                stop_px=None, time_in_force=str(body.get("time_in_force", "0")),
                account=str(body.get("account", "")), ex_destination=str(
                    body.get("ex_destination", "")), poss_resend=False)
        except (KeyError, ArithmeticError, TypeError, ValueError) as exc:
            return 400, {"ok": False, "error": f"an order needs symbol, side and a numeric "
                                               f"qty ({type(exc).__name__}: {exc})"}
        return self._ask_core(lambda reply: OperatorOrder(submit, reply))

    def order_state(self, order_id: str) -> tuple[int, dict[str, Any]]:
        """#21: an order's state as the core holds it (live orders and those of this run)."""
        core = self.server.core
        order = core.orders.get(order_id) if core is not None else None
        if order is None:
            return 404, {"ok": False, "error": f"no order {order_id} in the running server"}
        return 200, {"ok": True, "order_id": order.order_id, "cl_ord_id": order.cl_ord_id,
                     "symbol": order.symbol, "side": order.side._value_,
                     "status": order.status._name_, "order_qty": str(order.order_qty),
                     "cum_qty": str(order.cum_qty), "leaves_qty": str(order.leaves_qty),
                     "avg_px": str(order.avg_px), "text": order.text,
                     "done": not order.is_live}

    def cancel(self, order_id: str) -> tuple[int, dict[str, Any]]:
        if self.server.core is None:
            return 503, {"ok": False, "error": "server is not running"}
        return self._ask_core(lambda reply: OperatorCancel(order_id, reply))

    def _ask_core(self, command: Callable[[Future], Any]) -> tuple[int, dict[str, Any]]:
        """Submit ``command(reply)`` to the core and wait for its answer on ``reply``: 200 if
        it says ok, else 409; 504 when the core does not answer in 10 s."""
        core = self.server.core
        assert core is not None
        reply: Future = Future()
        core.submit(command(reply))
        try:
            result = reply.result(timeout=10)
        except FutureTimeout:
            return 504, {"ok": False, "error": "the core did not answer in 10 s"}
        return (200 if result.get("ok") else 409), result


def _make_handler(admin: AdminServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "oms-admin"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("admin: " + format, *args)

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            expected = f"Bearer {admin.token}"
            if hmac.compare_digest(header.encode(), expected.encode()):
                return True
            self._reply(401, {"ok": False, "error": "missing or wrong admin token"})
            return False

        def _from_loopback(self) -> bool:
            try:
                return ipaddress.ip_address(self.client_address[0]).is_loopback
            except ValueError:
                return False

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            self._send(code, json.dumps(body, default=str).encode(), "application/json")

        def _send(self, code: int, data: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if not (self.path in OPEN_ROUTES and self._from_loopback()) \
                    and not self._authorized():
                return
            if self.path == "/metrics":
                self._send(200, admin.server.metrics.render(), CONTENT_TYPE)
            elif self.path == "/health":
                health = admin.server.liveness()
                self._reply(200 if health["ok"] else 503, health)
            elif self.path == "/ready":
                ready = admin.server.readiness()
                self._reply(200 if ready["ok"] else 503, ready)
            elif self.path == "/stats":
                self._reply(200, {"ok": True, **admin.server.stats()})
            elif self.path == "/sessions":
                self._reply(200, {"ok": True, "sessions": admin.server.session_states()})
            elif self.path == "/quotes" or self.path.startswith("/quotes?"):
                # #20: the market data book; ?symbols=A,B for some of them
                query = parse_qs(urlsplit(self.path).query)
                symbols = [s for v in query.get("symbols", []) for s in v.split(",") if s]
                self._reply(200, {"ok": True, "quotes": admin.server.quotes(symbols)})
            elif self.path.startswith("/orders/") and self.path.count("/") == 2:
                code, answer = admin.order_state(unquote(self.path.split("/")[2]))
                self._reply(code, answer)
            elif self.path == "/positions" or self.path.startswith("/positions?"):
                # #21: the position keeper's rows, start cash and marks
                query = parse_qs(urlsplit(self.path).query)
                symbols = [s for v in query.get("symbols", []) for s in v.split(",") if s]
                self._reply(200, {"ok": True, **admin.server.positions(symbols)})
            else:
                self._reply(404, {"ok": False, "error": f"no such route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if not self._authorized():
                return
            parts = self.path.strip("/").split("/")
            if self.path == "/stats/reset":
                admin.server.reset_stats()
                self._reply(200, {"ok": True})
            elif self.path == "/orders":
                # #21: an operator's order, the JSON body (AdminServer.new_order)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                except ValueError as exc:
                    self._reply(400, {"ok": False, "error": f"the body is not a JSON object "
                                                            f"({exc})"})
                    return
                code, answer = admin.new_order(body)
                self._reply(code, answer)
            elif len(parts) == 3 and parts[0] == "orders" and parts[2] == "cancel":
                code, body = admin.cancel(parts[1])
                self._reply(code, body)
            elif len(parts) == 3 and parts[0] == "sessions":
                # #19: /sessions/<name>/logout|logon|reset-seq (the name URL-quoted)
                code, body = admin.server.session_action(unquote(parts[1]), parts[2])
                self._reply(code, body)
            else:
                self._reply(404, {"ok": False, "error": f"no such route {self.path}"})

    return Handler


def call(token_path: Path, method: str, path: str, timeout: float = 15,
         body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Client side: call the admin interface of the server whose token file is given."""
    try:
        info = json.loads(token_path.read_text())
        url, token = f"http://{info['host']}:{info['port']}{path}", info["token"]
    except FileNotFoundError:
        raise AdminError(f"no running server found (no admin token at {token_path})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise AdminError(f"the admin token file {token_path} is not one a server wrote "
                         f"({type(exc).__name__}: {exc})") from None
    request = urllib.request.Request(
        url, method=method, headers={"Authorization": f"Bearer {token}"},
        data=(json.dumps(body).encode() if body is not None else b"") if method == "POST"
        else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = {"ok": False, "error": f"HTTP {exc.code}"}
        raise AdminError(body.get("error", f"HTTP {exc.code}")) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise AdminError(f"cannot reach the server's admin interface: {exc}") from None
