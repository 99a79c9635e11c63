"""One server per state directory: an exclusive lock on ``oms.lock`` in the sessions directory.

#18: two servers on one sessions directory overwrite each other's admin token and move the
shared FIX stores' sequence numbers, so ``OmsServer.start`` takes this lock before it
touches anything there, and a second server stops at once, naming the first.

The lock is ``fcntl.flock`` on the file, not the file's existence: the kernel drops it when
the holder's descriptor closes, also when the process is killed, so a crash leaves no stale
lock to clean up. The file itself stays; it holds the PID, host and start time of the
holder, for the message the next one prints. A process that cannot take the lock does not
write to the file (its bytes and mtime stay as the holder left them).

It does not protect a directory shared by several machines over NFS, where flock may be
local to each machine.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from oms.domain.errors import OmsError

LOCK_NAME = "oms.lock"


class StateDirectoryInUse(OmsError):
    """Another process holds the lock on a state directory."""

    def __init__(self, directory: Path, holder: dict[str, object]) -> None:
        self.directory = directory
        self.holder = holder
        pid = holder.get("pid", "unknown")
        host = holder.get("host", "unknown")
        since = f" since {holder['started']}" if holder.get("started") else ""
        super().__init__(
            f"the sessions directory {directory} is in use by another OMS server "
            f"(PID {pid} on host {host}{since}); stop it first, or give this one a "
            f"sessions_dir of its own (lock file {directory / LOCK_NAME})")


def _read_holder(descriptor: int) -> dict[str, object]:
    """What the holder wrote, or nothing (it may not have written yet)."""
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 4096).decode(errors="replace")
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class StateLock:
    """The exclusive lock on ``directory``; ``acquire`` raises ``StateDirectoryInUse``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> None:
        """Take the lock (creating the directory and the file if they are missing) and
        write this process's PID and host into the file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # no O_TRUNC: the file is only written once the lock is ours
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if not _try_lock(descriptor):
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise StateDirectoryInUse(self.directory, holder)
        self._descriptor = descriptor
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)

    def release(self) -> None:
        """Empty the file (the PID in it would name a process that no longer holds it) and
        let go of the lock. Does nothing when the lock is not held."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        try:
            os.ftruncate(descriptor, 0)
        finally:
            os.close(descriptor)  # closing the descriptor releases the flock


def holder(directory: Path) -> dict[str, object] | None:
    """Who holds the lock on ``directory`` now (its PID and host), or None when nobody does.

    Changes nothing: a missing lock file is not created, and a free lock is let go at once.
    For tools that must not start a server's preparations when one already runs there
    (``oms demo``); the server itself relies on ``StateLock.acquire`` alone.
    """
    try:
        descriptor = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(descriptor):
            return None
        return _read_holder(descriptor)
    finally:
        os.close(descriptor)
