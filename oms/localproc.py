"""Running the OMS's own processes on this machine: free loopback ports, stopping a child
process politely (SIGTERM, then SIGKILL), and a parent that stops its children when it is
itself terminated. Used by the demo, the benchmarks and tests."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
