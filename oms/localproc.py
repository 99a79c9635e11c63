"""Running the OMS's own processes on this machine: free loopback ports, stopping a child
process politely (SIGTERM, then SIGKILL), and a parent that stops its children when it is
itself terminated. Used by the demo, the benchmarks and tests."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10_000  # free_port's ports lie between this and the ephemeral range
_given: set[int] = set()  # ports free_port handed out in this process: never twice
_given_lock = threading.Lock()
_random = random.SystemRandom()


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host``:``port`` now (a server started
    in another process, before it is used)."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, for a server that binds it a moment later.

    Chosen below the kernel's ephemeral range where that is known (Linux): a port the OS
    picks with ``bind(0)`` comes from that range, and any outgoing connection on the
    machine may take it as its source port before the server binds it. CI saw exactly that
    (``oms serve``: errno 98, address already in use). A port is never handed out twice
    by one process. Elsewhere, or if 200 tries find nothing, the OS picks."""
    low = _ephemeral_low()
    if low is not None and low - LOWEST_PORT >= 1_000:
        for _ in range(200):
            port = _random.randrange(LOWEST_PORT, low)
            with _given_lock:
                if port in _given:
                    continue
                if _bindable(host, port):
                    _given.add(port)
                    return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int | None:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Inside, a SIGTERM (a CI timeout, ``kill``) unwinds the main thread as Ctrl-C does, as
    ``SystemExit(143)``, so the ``finally`` blocks that stop the child processes run and no
    server is left running with its port open; the previous handler is back afterwards.
    Main thread only."""
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL; nothing if it already ended."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
