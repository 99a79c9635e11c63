"""Starting and stopping QuickFIX engines (acceptors and initiators) with our settings.

Message stores are FileStores under the sessions directory, so sequence numbers and resends
survive restarts. The QuickFIX FileLog is optional (``file_log``): the OMS journal already keeps
every application message, and the FileLog costs throughput (a write per message).
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import quickfix as fix

from oms.domain.errors import ConfigError
from oms.fix.settings import (
    FIX44,
    USE_SSL,
    SessionSpec,
    ssl_in_defaults,
    wants_ssl,
    write_cfg,
)

# the Text of the Logout we send when the server stops (a logout with it is no problem)
STOP_REASON = "server stopping"


def _log_factory(settings: fix.SessionSettings, file_log: bool):  # type: ignore[no-untyped-def]
    return fix.FileLogFactory(settings) if file_log else None


def split_fields(text: str) -> dict[str, str]:
    """tag -> value of a FIX message's text, split once in Python: each ``getField`` is a
    call into the bindings, which hands the GIL to another thread and waits to get it back
    (#3). A repeated tag keeps its last value, so read no tag of a repeating group.

    ``text`` is the engine's (``Message.toString``): every field is ``tag=value``. When no
    value holds an "=" or an SOH (as many "=" as SOHs), the text splits into tag, value,
    tag, value... in one go (docs/perf/README.md, "FIX messages as text"); otherwise
    field by field."""
    if text.endswith("\x01") and text.count("=") == text.count("\x01"):
        items = iter(text[:-1].replace("\x01", "=").split("="))
        return dict(zip(items, items, strict=True))
    return dict(field.split("=", 1) for field in text.split("\x01") if field)


def first_value(text: str, tag: str) -> str:
    """The value of the first ``tag`` field after BeginString in a FIX message's text (a
    header field, read without splitting the message); "" if there is none."""
    start = text.find(f"\x01{tag}=")
    if start < 0:
        return ""
    start += len(tag) + 2
    return text[start:text.find("\x01", start)]


def message_from_text(msg_type: str, body: str) -> fix.Message:
    """A FIX 4.4 application message from its body (``tag=value`` fields joined by SOH).

    One call into the bindings instead of a ``setField`` per field (docs/perf/README.md,
    "FIX messages as text"); the engine sets the rest of the header (49, 56, 34, 52),
    BodyLength and CheckSum when it sends."""
    return fix.Message(_text(msg_type, body), False)


def refill_message(message: fix.Message, msg_type: str, body: str) -> fix.Message:
    """``message`` emptied and made the message of ``message_from_text``, and returned.

    #3: for a thread that sends one message after another. One call into the bindings
    instead of two (a new Message, and its deletion later), and one hand-off of the GIL
    fewer (docs/perf/README.md, "One refilled Message per sending thread").
    Only for a message the caller no longer needs: the engine copies what it sends."""
    message.setString(_text(msg_type, body), False)
    return message


def _text(msg_type: str, body: str) -> str:
    return f"8=FIX.4.4\x019=0\x0135={msg_type}\x01{body}\x0110=000\x01"


def copy_session_id(session_id: fix.SessionID) -> fix.SessionID:
    """A SessionID we own: the one quickfix passes to a callback dies with the callback."""
    return fix.SessionID(
        session_id.getBeginString().getValue(),
        session_id.getSenderCompID().getValue(),
        session_id.getTargetCompID().getValue(),
    )


# --- callbacks on QuickFIX's own threads --------------------------------------------------
# QuickFIX calls our Application from threads it started in C++. The SWIG bindings wrap each
# callback in PyGILState_Ensure/Release, and on a thread Python has never seen, Release
# deletes the thread state Ensure made: every callback built a new one and threw it away
# (a gettid, an mmap and a munmap of its frame stack, page faults, and a cross-CPU TLB
# shootdown per message; 3 per order in the OMS). #3: one extra Ensure the first time a
# thread calls us keeps its state for the thread's life; SWIG's own Ensure/Release pairs
# then only take and drop the GIL. A thread state costs a few KB; one is kept per QuickFIX
# thread (one per connection on an acceptor), and Python frees them at exit.
_keep_state = ctypes.pythonapi.PyGILState_Ensure


class _Kept(threading.local):
    """Lives in the thread state itself: a new thread state (a new QuickFIX thread, or one
    that reuses a dead thread's id) starts with ``kept`` False."""

    kept = False


_kept = _Kept()

App = TypeVar("App", bound=type)
CALLBACKS = ("onCreate", "onLogon", "onLogout", "toAdmin", "fromAdmin", "toApp", "fromApp")


def keep_thread_state() -> None:
    """Keep the calling thread's Python thread state between callbacks (see above)."""
    if not _kept.kept:
        _kept.kept = True
        _keep_state()


def keeps_thread_state(cls: App) -> App:
    """Class decorator for a quickfix Application: each callback the class defines first
    calls ``keep_thread_state``. The callbacks behave exactly as before."""
    for name in CALLBACKS:
        method = cls.__dict__.get(name)
        if method is None:
            continue

        def wrapped(self: Any, *args: Any, _method: Callable[..., Any] = method) -> Any:
            if not _kept.kept:
                keep_thread_state()
            return _method(self, *args)

        setattr(cls, name, functools.wraps(method)(wrapped))
    return cls


class Engine:
    """An acceptor or initiator plus the objects quickfix needs kept alive."""

    def __init__(
        self,
        kind: str,
        application: fix.Application,
        cfg_path: Path,
        defaults: Mapping[str, str],
        sessions: list[SessionSpec],
    ) -> None:
        if kind not in ("acceptor", "initiator"):
            raise ValueError(kind)
        merged = dict(defaults)
        merged["ConnectionType"] = kind
        try:
            use_ssl = wants_ssl(merged, sessions)
            if use_ssl:
                merged, sessions = ssl_in_defaults(merged, sessions)
        except ValueError as exc:
            raise ConfigError(f"{kind}: {exc}") from None
        file_log = merged.pop("FileLog", "N") == "Y"
        write_cfg(cfg_path, merged, sessions)
        Path(merged["FileStorePath"]).mkdir(parents=True, exist_ok=True)
        if file_log:
            Path(merged["FileLogPath"]).mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.cfg_path = cfg_path
        self.sessions = list(sessions)
        self.application = application
        self.settings = fix.SessionSettings(str(cfg_path))
        self.store_factory = fix.FileStoreFactory(self.settings)
        self.log_factory = _log_factory(self.settings, file_log)
        # Acceptors are ThreadedSocketAcceptors (a thread per connection): quickfix 1.16's
        # SocketAcceptor::stop closes its server while its own thread deletes it, a race
        # that crashed the process in our tests (SocketServer::close on freed memory).
        socket_class = fix.ThreadedSocketAcceptor if kind == "acceptor" else fix.SocketInitiator
        if use_ssl:
            # #18: quickfix has no threaded SSL acceptor; SSLSocketAcceptor's stop only sets a
            # flag its thread reads (no close from another thread: not the race above).
            # PyPI's quickfix is built without SSL (scripts/quickfix_ssl.sh builds one with)
            socket_class = fix.SSLSocketAcceptor if kind == "acceptor" else fix.SSLSocketInitiator
        try:
            if self.log_factory is not None:
                self.engine = socket_class(
                    application, self.store_factory, self.settings, self.log_factory
                )
            else:
                self.engine = socket_class(application, self.store_factory, self.settings)
        except fix.ConfigError as exc:
            if use_ssl and "HAVE_SSL" in str(exc):
                raise ConfigError(
                    f"{kind}: {USE_SSL} asks for SSL, but this quickfix was built without it "
                    f"({exc}; the quickfix package on PyPI is); install one built with "
                    f"HAVE_SSL (scripts/quickfix_ssl.sh), or put a TLS terminator (stunnel, a "
                    f"load balancer) in front of the OMS and set {USE_SSL} = false") from None
            raise
        self._started = False

    def start(self) -> None:
        self.engine.start()
        self._started = True

    def session_ids(self) -> list[fix.SessionID]:
        return [fix.SessionID(FIX44, spec.sender_comp_id, spec.target_comp_id)
                for spec in self.sessions]

    def last_inbound_seqs(self) -> dict[str, int]:
        """Session key -> the MsgSeqNum of the last message its store counts as received
        (admin messages included). Read after ``stop``, while this object lives: the
        engine's sessions exist until it is deleted."""
        found = {}
        for spec, session_id in zip(self.sessions, self.session_ids(), strict=True):
            session = fix.Session.lookupSession(session_id)
            if session is not None:
                found[spec.key] = session.getExpectedTargetNum() - 1
        return found

    def stop(self, force: bool = False, timeout: float = 2.0) -> None:
        """Log the sessions out (unless ``force``), wait up to ``timeout`` s, then stop.

        quickfix's own graceful stop polls for the logouts in whole-second sleeps (up to
        10 s), so we send the Logouts ourselves and then stop with force.
        """
        if not self._started:
            return
        self._started = False
        if not force:
            live = [fix.Session.lookupSession(sid) for sid in self.session_ids()]
            live = [session for session in live if session is not None and session.isLoggedOn()]
            for session in live:
                session.logout(STOP_REASON)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(s.isLoggedOn() for s in live):
                time.sleep(0.01)
        self.engine.stop(True)
