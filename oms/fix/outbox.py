"""The outbox at start-up: outbound messages committed before a stop but never sent (#16).

The core journals every outbound message (an ``order_events`` row with its ``outbox_seq``,
1, 2, 3, ... per session) in the batch's transaction, and sends the batch only after the
commit; how far each session's messages had been handed to the FIX engine rides on a later
commit (``fix_sessions.outbox_sent``). A process killed between a commit and its sends, or
before the next commit recorded them, leaves messages in between: committed, perhaps sent.

QuickFIX writes every application message to its FileStore (``<prefix>.body``, indexed by
``<prefix>.header`` entries ``seq,offset,size``) and flushes it before the socket write, and
that store is what it resends from when the counterparty asks after a logon. So a message
in the store will reach the counterparty; one that is not never will. ``plan`` compares the
candidates with the last application messages of the store, body against body:

- a session whose sequence numbers go on across logons: what is missing is handed to the
  engine now, before it starts, so it takes the next sequence numbers and reaches the
  counterparty through the resend its Logon asks for (with PossDupFlag), before anything
  sent later;
- a session whose sequence numbers restart at every logon (its store is emptied then), or
  an engine that keeps no messages: every candidate waits for the session's logon and goes
  first after it, those the store shows as sent marked PossResend (97=Y), since the
  counterparty may have them under an older sequence number.

What it does not do: it cannot see what a counterparty that resets sequence numbers on its
own (a Logon with 141=Y we did not ask for) loses with the store; for a broker, the status
queries after such a logon answer for every open order. It reads the store files, never
writes them, and decides nothing about orders.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from oms.app.ports import OutMessage
from oms.fix.engine import split_fields

log = logging.getLogger(__name__)

# header and trailer tags: a message's body is what is left (BeginString, BodyLength,
# MsgType, CompIDs and sub-IDs, MsgSeqNum, SendingTime, PossDup, PossResend,
# OrigSendingTime, OnBehalfOf/DeliverTo, LastMsgSeqNumProcessed, CheckSum, signatures)
_ENVELOPE = frozenset({"8", "9", "35", "49", "56", "50", "57", "142", "143", "115", "128",
                       "116", "129", "34", "52", "43", "97", "122", "369", "627", "628",
                       "629", "630", "10", "89", "93"})
_ADMIN = frozenset({"0", "1", "2", "3", "4", "5", "A"})
_JOURNAL_SPLIT = re.compile(r"\|(?=\d+=)")  # a journal row's separators (a value may hold "|")
_HEADER_CHUNK = 64 * 1024

Key = tuple[tuple[str, str], ...]


def body_key(fields: Iterable[tuple[str, str]]) -> Key:
    """A message's body as a comparable value: its fields less the envelope, sorted (the
    engine may order fields differently from how they were given)."""
    return tuple(sorted((tag, value) for tag, value in fields if tag not in _ENVELOPE))


def journal_fields(body: str) -> list[tuple[str, str]]:
    """The fields of an ``order_events`` "out" row (``35=8|37=...|...``)."""
    pairs = []
    for item in _JOURNAL_SPLIT.split(body):
        tag, _, value = item.partition("=")
        pairs.append((tag, value))
    return pairs


def store_prefix(store_dir: Path, session: str) -> Path:
    """QuickFIX's FileStore file prefix for our session key ``FIX.4.4:OMS->CLIENT1``."""
    begin, _, pair = session.partition(":")
    sender, _, target = pair.partition("->")
    return store_dir / f"{begin}-{sender}-{target}."


def _header_entries(path: Path) -> Iterator[tuple[int, int, int]]:
    """(MsgSeqNum, offset, size) of the store's messages, newest first, reading the index
    backwards."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        carry = b""
        while end > 0:
            start = max(0, end - _HEADER_CHUNK)
            handle.seek(start)
            chunk = handle.read(end - start) + carry
            entries = chunk.split(b" ")
            carry = entries.pop(0) if start > 0 else b""  # may be cut: read it with the next
            for entry in reversed(entries):
                if entry:
                    seq, offset, size = entry.split(b",")
                    yield int(seq), int(offset), int(size)
            end = start
        if carry:
            seq, offset, size = carry.split(b",")
            yield int(seq), int(offset), int(size)


def next_sender_seq(prefix: Path) -> int | None:
    """The MsgSeqNum the engine will give its next outbound message (``.seqnums``: sender,
    then target), or None when the store has no such file."""
    try:
        text = Path(f"{prefix}seqnums").read_text()
    except FileNotFoundError:
        return None
    sender, _, _ = text.partition(":")
    return int(sender) if sender.strip() else None


def stored_bodies(prefix: Path, count: int) -> set[Key]:
    """The bodies (``body_key``) of the last ``count`` application messages in a FileStore
    that the engine will resend when asked.

    QuickFIX stores a message, then counts its sequence number in ``.seqnums``: a kill in
    between leaves a stored message under the number the next message (the next start's
    Logon) will take again, and only the later one is ever resent. So a message stored at
    or beyond the next sender number, or under a number stored again later, does not count.
    An empty set when the store has none (a new session, or ``PersistMessages=N``)."""
    found: set[Key] = set()
    if count <= 0:
        return found
    try:
        body = Path(f"{prefix}body").open("rb")
    except FileNotFoundError:
        return found
    limit = next_sender_seq(prefix)
    seen: set[int] = set()
    with body:
        for seq, offset, size in _header_entries(Path(f"{prefix}header")):
            if (limit is not None and seq >= limit) or seq in seen:
                continue  # never sent, or overwritten: the engine resends the later one
            seen.add(seq)
            body.seek(offset)
            text = body.read(size).decode("latin-1")
            fields = split_fields(text)
            if fields.get("35", "") in _ADMIN:
                continue
            found.add(body_key(fields.items()))
            count -= 1
            if count == 0:
                break
    return found


@dataclass
class SessionPlan:
    """What to do about one session's candidates."""

    session: str
    first: int  # the outbox_seq range looked at: (first, last]
    last: int
    in_store: int = 0  # candidates the engine's store already holds
    send_now: list[OutMessage] = field(default_factory=list)  # hand to the engine at start
    hold: list[OutMessage] = field(default_factory=list)  # send after the session's logon

    @property
    def note(self) -> str:
        parts = [f"outbox after the restart: messages {self.first + 1}-{self.last} committed "
                 f"and not known to be sent; {self.in_store} were in the FIX store"]
        if self.send_now:
            parts.append(f"{len(self.send_now)} never reached it and are sent now")
        if self.hold:
            parts.append(f"{len(self.hold)} wait for the logon (sequence numbers restart)")
        return "; ".join(parts)


def plan(session: str, first: int, candidates: list[tuple[int, str, str]], stored: set[Key],
         restarts_sequence: bool) -> SessionPlan:
    """Decide for one session's candidates, (outbox_seq, MsgType, journal body) in order;
    see the module doc."""
    last = candidates[-1][0] if candidates else first
    result = SessionPlan(session, first, last)
    for seq, msg_type, body in candidates:
        fields = [(tag, value) for tag, value in journal_fields(body) if tag != "35"]
        in_store = body_key(fields) in stored
        result.in_store += in_store
        if restarts_sequence:
            if in_store:
                fields.insert(0, ("97", "Y"))  # PossResend: it may have arrived before
            result.hold.append(_message(session, msg_type, fields, seq))
        elif not in_store:
            result.send_now.append(_message(session, msg_type, fields, seq))
    return result


def _message(session: str, msg_type: str, fields: list[tuple[str, str]], seq: int
             ) -> OutMessage:
    return OutMessage.of_fields(session, msg_type, [(int(tag), value) for tag, value in fields],
                                outbox_seq=seq, cl_ord_id=dict(fields).get("11", ""))
