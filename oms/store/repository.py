"""Reads from the blotter: start-up recovery and the read-only CLI commands.

``load_open_orders`` rebuilds the core's live ``Order`` objects (two queries, grouped in
Python, so 100,000 orders load in seconds); the other functions return plain dicts or sets.
The fills of an order are replayed from its executions in ``seq`` order: a trade (ExecType
F) adds a fill, a bust (H) removes the fill it refers to, a correction (G) replaces it.

Nothing here writes; the journal writer (``oms.store.journal``) is the only writer of
orders, executions and events.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oms.app.records import LoadedCopy, LoadedFill
from oms.domain.enums import OrdStatus, OrdType, Side, TimeInForce
from oms.domain.errors import StoreError
from oms.domain.order import ChildOrder, Fill, Order, pending_from_json
from oms.store.schema import (
    TERMINAL_STATUS_VALUES,
    child_orders,
    drop_copies,
    dropcopy_breaks,
    executions,
    order_arrivals,
    order_events,
    orders,
)

log = logging.getLogger(__name__)

TRADE, TRADE_CORRECT, TRADE_CANCEL = "F", "G", "H"
FILL_EXEC_TYPES = (TRADE, TRADE_CORRECT, TRADE_CANCEL)
ZERO = Decimal(0)

_SIDES = {member.value: member for member in Side}
_ORD_TYPES = {member.value: member for member in OrdType}
_TIFS = {member.value: member for member in TimeInForce}
_STATUSES = {member.value: member for member in OrdStatus}


def _read(engine: Engine) -> Connection:
    """A connection whose statements all see one snapshot (PostgreSQL REPEATABLE READ;
    SQLite reads inside one transaction already do)."""
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that form no cycles:
    it would otherwise rescan the growing heap again and again (a third of the load time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- fills ------------------------------------------------------------------------------
def _find(fills: list[Fill], ref: str) -> int:
    for index, fill in enumerate(fills):
        if fill.exec_id == ref:
            return index
    for index, fill in enumerate(fills):  # as Order._find_fill: a broker ExecID also names it
        if fill.broker_exec_id and fill.broker_exec_id == ref:
            return index
    return -1


def replay_fills(rows: Iterable[Any]) -> dict[str, list[Fill]]:
    """Live fills per key from execution rows (key, exec_type, exec_id, last_qty, last_px,
    broker_exec_id, exec_ref_id) given in ``seq`` order; the key is an order_id or a
    child_id."""
    by_order: dict[str, list[Fill]] = {}
    for order_id, exec_type, exec_id, last_qty, last_px, broker_exec_id, exec_ref_id in rows:
        fills = by_order.get(order_id)
        if fills is None:
            fills = by_order[order_id] = []
        if exec_type == TRADE:
            fills.append(Fill(exec_id, last_qty, last_px, broker_exec_id))
            continue
        index = _find(fills, exec_ref_id)
        if index < 0:
            log.warning(
                "order %s: ExecType %s %s refers to unknown fill %r; ignored",
                order_id,
                exec_type,
                exec_id,
                exec_ref_id,
            )
        elif exec_type == TRADE_CANCEL:
            del fills[index]
        else:
            fills[index] = Fill(exec_id, last_qty, last_px, broker_exec_id)
    return by_order


def _fill_rows(connection: Connection, open_only: bool, by: str = "order_id"
               ) -> Sequence[Any]:
    """Execution rows for ``replay_fills``, keyed by ``by`` (order_id or child_id)."""
    e = executions.c
    query = sa.select(
        e[by],
        e.exec_type,
        e.exec_id,
        e.last_qty,
        e.last_px,
        e.broker_exec_id,
        e.exec_ref_id,
    ).where(e.exec_type.in_(FILL_EXEC_TYPES))
    if open_only:
        query = query.join(orders, orders.c.order_id == e.order_id).where(
            orders.c.status.not_in(TERMINAL_STATUS_VALUES)
        )
    return connection.execute(query.order_by(e.seq)).all()  # fetchall: far faster than iterating


# #20: an order's arrival quote, from its order_arrivals row (NULL: none), named as the
# order's own columns in what readers get
WITH_ARRIVAL = orders.outerjoin(order_arrivals,
                                order_arrivals.c.order_id == orders.c.order_id)
ARRIVAL_COLUMNS = (order_arrivals.c.bid.label("arrival_bid"),
                   order_arrivals.c.ask.label("arrival_ask"),
                   order_arrivals.c.mid.label("arrival_mid"),
                   order_arrivals.c.stale.label("arrival_stale"))


# --- start-up ---------------------------------------------------------------------------
def load_open_orders(engine: Engine) -> list[Order]:
    """Every order that is not Filled, Canceled, Rejected or Expired, with its children and
    their fills.

    A row whose CumQty is not what its children's fills add up to is logged at WARNING
    (``order_fill_consistency`` lists them); the fills stand.
    """
    o = orders.c
    c = child_orders.c
    query = (
        sa.select(
            o.order_id,
            o.session,
            o.cl_ord_id,
            o.symbol,
            o.side,
            o.ord_type,
            o.order_qty,
            o.price,
            o.stop_px,
            o.time_in_force,
            o.account,
            o.ex_destination,
            o.orig_cl_ord_id,
            o.created_at,
            o.status,
            o.cum_qty,
            o.accepted,
            o.text,
            o.version,
            *ARRIVAL_COLUMNS,
        )
        .select_from(WITH_ARRIVAL)
        .where(o.status.not_in(TERMINAL_STATUS_VALUES))
        .order_by(o.created_at, o.order_id)
    )
    children_query = (
        sa.select(c.child_id, c.order_id, c.route, c.session, c.cl_ord_id, c.prior_cl_ord_ids,
                  c.broker_order_id, c.order_qty, c.pending, c.version, c.created_at)
        .join(orders, o.order_id == c.order_id)
        .where(o.status.not_in(TERMINAL_STATUS_VALUES))
        .order_by(c.created_at, c.child_id)
    )
    with _bulk():
        with _read(engine) as connection, connection.begin():
            order_rows = connection.execute(query).all()
            child_rows = connection.execute(children_query).all()
            fills_by_child = replay_fills(_fill_rows(connection, open_only=True, by="child_id"))
            broker_ids = _broker_order_ids(connection)
        children: dict[str, list[ChildOrder]] = {}
        for row in child_rows:
            child = _child(row, fills_by_child.get(row[0], []))
            child.broker_order_id = broker_ids.get(child.child_id) or child.broker_order_id
            children.setdefault(child.order_id, []).append(child)
        return [_order(row, children.get(row[0], [])) for row in order_rows]


def _broker_order_ids(connection: Connection) -> dict[str, str]:
    """child_id -> the broker's OrderID on its latest execution that has one (open orders)."""
    e = executions.c
    rows = connection.execute(
        sa.select(e.child_id, e.broker_order_id)
        .join(orders, orders.c.order_id == e.order_id)
        .where(e.broker_order_id != "", orders.c.status.not_in(TERMINAL_STATUS_VALUES))
        .order_by(e.seq)
    ).all()
    return dict(rows)  # later rows replace earlier ones


def _child(row: Any, fills: list[Fill]) -> ChildOrder:
    """A ``ChildOrder`` from a row of ``load_open_orders``'s query and its replayed fills."""
    (child_id, order_id, route, session, cl_ord_id, prior, broker_order_id, order_qty,
     pending, version, created_at) = row
    cum_qty = notional = ZERO
    for fill in fills:
        cum_qty += fill.qty
        notional += fill.qty * fill.px
    try:
        request = pending_from_json(pending)
    except (KeyError, ValueError) as exc:
        raise StoreError(f"child order {child_id} cannot be loaded: bad stored value {exc}"
                         ) from exc
    return ChildOrder(
        child_id=child_id, order_id=order_id, route=route, session=session,
        cl_ord_id=cl_ord_id, order_qty=order_qty,
        prior_cl_ord_ids=tuple(prior.split()), broker_order_id=broker_order_id,
        pending=request, fills=fills, cum_qty=cum_qty, notional=notional,
        created_at=created_at, version=version, journaled=version)


def _order(row: Any, children: list[ChildOrder]) -> Order:
    """An ``Order`` from a row of ``load_open_orders``'s query and its children."""
    (
        order_id,
        session,
        cl_ord_id,
        symbol,
        side,
        ord_type,
        order_qty,
        price,
        stop_px,
        tif,
        account,
        ex_destination,
        orig_cl_ord_id,
        created_at,
        status,
        cum_qty,
        accepted,
        text,
        version,
        arrival_bid,
        arrival_ask,
        arrival_mid,
        arrival_stale,
    ) = row
    try:
        order = Order(
            order_id=order_id,
            session=session,
            cl_ord_id=cl_ord_id,
            symbol=symbol,
            side=_SIDES[side],
            ord_type=_ORD_TYPES[ord_type],
            order_qty=order_qty,
            price=price,
            stop_px=stop_px,
            time_in_force=_TIFS[tif],
            account=account,
            ex_destination=ex_destination,
            orig_cl_ord_id=orig_cl_ord_id,
            created_at=created_at,
            status=_STATUSES[status],
            accepted=bool(accepted),
            text=text,
            version=version,
            arrival_bid=arrival_bid,
            arrival_ask=arrival_ask,
            arrival_mid=arrival_mid,
            arrival_stale=None if arrival_stale is None else bool(arrival_stale),
        )
    except (KeyError, ValueError) as exc:
        raise StoreError(f"order {order_id} cannot be loaded: bad stored value {exc}") from exc
    for child in children:
        order.route_to(child)
    if order.cum_qty != cum_qty:
        log.warning("order %s: CumQty %s but its fills add up to %s", order_id, cum_qty,
                    order.cum_qty)
    return order


def load_drop_copy_day(
    engine: Engine, broker_sessions: Iterable[str], copy_sessions: Iterable[str],
    since: datetime,
) -> tuple[list[LoadedFill], list[LoadedCopy], list[tuple[str, str, str, str]]]:
    """#19, for the drop-copy matcher at start (``DropCopies.load_drop_copies``): our
    fills on ``broker_sessions`` booked since ``since`` (booking order), the drop-copy
    trades on ``copy_sessions`` received since then (arrival order), and the breaks found
    since then (kind, broker, broker ExecID, our ExecID)."""
    e, c, o = executions.c, child_orders.c, orders.c
    d, b = drop_copies.c, dropcopy_breaks.c
    fills_query = (
        sa.select(e.exec_id, e.order_id, e.broker_session, e.broker_exec_id,
                  e.broker_order_id, c.prior_cl_ord_ids, c.cl_ord_id, o.symbol, o.side,
                  e.last_qty, e.last_px, e.transact_time)
        .join(orders, o.order_id == e.order_id)
        .outerjoin(child_orders, sa.and_(c.order_id == e.order_id, c.child_id == e.child_id))
        .where(e.exec_type == TRADE, e.broker_session.in_(list(broker_sessions)),
               e.transact_time >= since)
        .order_by(e.seq))
    copies_query = (
        sa.select(d.session, d.broker_exec_id, d.cl_ord_id, d.broker_order_id, d.symbol,
                  d.side, d.last_qty, d.last_px, d.received_at)
        .where(d.exec_type == TRADE, d.session.in_(list(copy_sessions)),
               d.received_at >= since)
        .order_by(d.id))
    breaks_query = (sa.select(b.kind, b.broker, b.broker_exec_id, b.exec_id)
                    .where(b.found_at >= since).order_by(b.id))
    with _read(engine) as connection, connection.begin():
        fills = [LoadedFill(exec_id, order_id, session, broker_exec_id, broker_order_id,
                            (*(prior or "").split(), *((cl_ord_id,) if cl_ord_id else ())),
                            symbol, side, Decimal(qty), Decimal(px), at)
                 for (exec_id, order_id, session, broker_exec_id, broker_order_id, prior,
                      cl_ord_id, symbol, side, qty, px, at)
                 in connection.execute(fills_query)]
        copies = [LoadedCopy(*row[:6], Decimal(row[6]), Decimal(row[7]), row[8])
                  for row in connection.execute(copies_query)]
        found = [(kind, broker, broker_exec_id, exec_id)
                 for kind, broker, broker_exec_id, exec_id in connection.execute(breaks_query)]
    return fills, copies, found


def load_seen_broker_exec_ids(
    engine: Engine, since: datetime | None = None
) -> set[tuple[str, str]]:
    """(broker_session, broker ExecID) of every broker execution booked (since ``since``,
    by TransactTime), so a resent ExecutionReport is dropped after a restart."""
    e = executions.c
    query = sa.select(e.broker_session, e.broker_exec_id).where(e.broker_exec_id != "")
    if since is not None:
        query = query.where(e.transact_time >= since)
    with engine.connect() as connection:
        return {(session, exec_id) for session, exec_id in connection.execute(query)}


def load_session_cl_ord_ids(engine: Engine, session: str, since: datetime) -> set[str]:
    """ClOrdIDs of orders received on upstream ``session`` since ``since`` (by created_at):
    each order's current ClOrdID and the one it replaced. Intermediate ClOrdIDs of longer
    replace chains and cancel-request ClOrdIDs are only in ``order_events``."""
    o = orders.c
    query = sa.select(o.cl_ord_id, o.orig_cl_ord_id).where(
        o.session == session, o.created_at >= since
    )
    seen: set[str] = set()
    with engine.connect() as connection:
        for cl_ord_id, orig_cl_ord_id in connection.execute(query):
            seen.add(cl_ord_id)
            if orig_cl_ord_id:
                seen.add(orig_cl_ord_id)
    seen.discard("")
    return seen


# --- the blotter for people -------------------------------------------------------------
def list_orders(
    engine: Engine, status: Literal["open", "all"] = "open", limit: int | None = None
) -> list[dict[str, Any]]:
    """Order rows as dicts, newest first; ``status="open"`` leaves out terminal orders.
    Each row also has its latest child's route, ClOrdID (``child_cl_ord_id``), broker
    OrderID and pending request ("" before it is routed)."""
    if status not in ("open", "all"):
        raise ValueError(f"status must be 'open' or 'all', not {status!r}")
    query = sa.select(
        orders, *ARRIVAL_COLUMNS, _latest_child_column("route"),
        _latest_child_column("cl_ord_id", "child_cl_ord_id"),
        _broker_order_id_column(), _latest_child_column("pending"),
    ).select_from(WITH_ARRIVAL).order_by(orders.c.created_at.desc(), orders.c.order_id.desc())
    if status == "open":
        query = query.where(orders.c.status.not_in(TERMINAL_STATUS_VALUES))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def _latest_child_column(name: str, label: str = "") -> Any:
    """The column ``name`` of an order's latest child ("" before it is routed)."""
    c = child_orders.c
    latest = (sa.select(c[name]).where(c.order_id == orders.c.order_id)
              .order_by(c.created_at.desc(), c.child_id.desc()).limit(1)
              .correlate(orders).scalar_subquery())
    return sa.func.coalesce(latest, "").label(label or name)


def _broker_order_id_column() -> Any:
    """The broker's OrderID of an order: on its latest execution that has one, else on its
    latest child's row ("" before the broker gave one)."""
    e = executions.c
    latest = (sa.select(e.broker_order_id)
              .where(e.order_id == orders.c.order_id, e.broker_order_id != "")
              .order_by(e.seq.desc()).limit(1).correlate(orders).scalar_subquery())
    child = _latest_child_column("broker_order_id")
    return sa.func.coalesce(latest, child.element).label("broker_order_id")


def get_order(engine: Engine, order_id: str) -> dict[str, Any] | None:
    """``{"order": row, "children": [rows by creation], "executions": [rows by seq],
    "events": [rows by id]}`` or None."""
    with _read(engine) as connection, connection.begin():
        row = connection.execute(sa.select(orders, *ARRIVAL_COLUMNS).select_from(WITH_ARRIVAL)
                                 .where(orders.c.order_id == order_id))
        order = row.mappings().first()
        if order is None:
            return None
        children = connection.execute(
            sa.select(child_orders)
            .where(child_orders.c.order_id == order_id)
            .order_by(child_orders.c.created_at, child_orders.c.child_id)
        ).mappings()
        execs = connection.execute(
            sa.select(executions)
            .where(executions.c.order_id == order_id)
            .order_by(executions.c.seq)
        ).mappings()
        events = connection.execute(
            sa.select(order_events)
            .where(order_events.c.order_id == order_id)
            .order_by(order_events.c.id)
        ).mappings()
        execution_rows = [dict(r) for r in execs]
        child_rows = [dict(r) for r in children]
        # a child's broker OrderID: its latest execution's that has one, else its row's
        latest = {r["child_id"]: r["broker_order_id"] for r in execution_rows
                  if r["broker_order_id"]}
        for child in child_rows:
            child["broker_order_id"] = latest.get(child["child_id"]) or child["broker_order_id"]
        return {
            "order": dict(order),
            "children": child_rows,
            "executions": execution_rows,
            "events": [dict(r) for r in events],
        }


def session_runs(engine: Engine) -> list[tuple[str, int]]:
    """The broker sessions child orders went out on, in the order they went: each session
    with how many in a row (``oms demo --failover``: primary, backup, primary again)."""
    c = child_orders.c
    runs: list[tuple[str, int]] = []
    with _read(engine) as connection, connection.begin():
        for (session,) in connection.execute(
                sa.select(c.session).order_by(c.created_at, c.child_id)):
            if runs and runs[-1][0] == session:
                runs[-1] = (session, runs[-1][1] + 1)
            else:
                runs.append((session, 1))
    return runs


def order_fill_consistency(engine: Engine) -> list[dict[str, Any]]:
    """Orders whose CumQty is not the sum of their live fills (trades, less busts, with
    corrections); each as order_id, status, cum_qty, fills_qty, fills. Empty when consistent."""
    o = orders.c
    with _bulk(), _read(engine) as connection, connection.begin():
        fills_by_order = replay_fills(_fill_rows(connection, open_only=False))
        rows = connection.execute(
            sa.select(o.order_id, o.status, o.cum_qty).order_by(o.order_id)
        ).all()
    broken: list[dict[str, Any]] = []
    for order_id, status, cum_qty in rows:
        fills = fills_by_order.pop(order_id, [])
        filled = sum((fill.qty for fill in fills), ZERO)
        if filled != cum_qty:
            broken.append(
                {
                    "order_id": order_id,
                    "status": status,
                    "cum_qty": cum_qty,
                    "fills_qty": filled,
                    "fills": len(fills),
                }
            )
    for order_id, fills in sorted(fills_by_order.items()):  # fills of an order with no row
        broken.append(
            {
                "order_id": order_id,
                "status": None,
                "cum_qty": None,
                "fills_qty": sum((fill.qty for fill in fills), ZERO),
                "fills": len(fills),
            }
        )
    return broken


def load_inbound_seqs(engine: Engine) -> dict[str, int]:
    """Last committed inbound MsgSeqNum per FIX session (sessions never seen are absent)."""
    from oms.store.schema import fix_sessions

    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(fix_sessions.c.name, fix_sessions.c.last_inbound_seq).where(
                fix_sessions.c.last_inbound_seq.is_not(None)))
        return {name: int(seq) for name, seq in rows}


# --- the outbox (#16) -------------------------------------------------------------------
def load_outbox_marks(engine: Engine) -> tuple[dict[str, int], dict[str, int]]:
    """Per FIX session, the outbox_seq of the last outbound message committed and of the
    last one known to have been handed to the engine (sessions with none are absent)."""
    from oms.store.schema import fix_sessions

    s = fix_sessions.c
    committed: dict[str, int] = {}
    sent: dict[str, int] = {}
    with engine.connect() as connection:
        for name, last_committed, last_sent in connection.execute(
                sa.select(s.name, s.outbox_committed, s.outbox_sent)):
            if last_committed is not None:
                committed[name] = int(last_committed)
            if last_sent is not None:
                sent[name] = int(last_sent)
    return committed, sent


def load_outbound_since(engine: Engine, after: dict[str, int], upto: dict[str, int],
                        chunk: int = 10_000) -> dict[str, list[tuple[int, str, str]]]:
    """The outbound messages of each session whose outbox_seq lies in (``after``,
    ``upto``], as (outbox_seq, MsgType, journal body) in outbox order.

    They are the last ones journaled, so the journal is read backwards by its primary key,
    ``chunk`` rows at a time, until every range is complete: no index on outbox_seq (one
    would cost every commit a B-tree insert for a look that happens once per start)."""
    e = order_events.c
    wanted = {name: (after.get(name, 0), last) for name, last in upto.items()
              if last > after.get(name, 0)}
    found: dict[str, list[tuple[int, str, str]]] = {name: [] for name in wanted}
    if not wanted:
        return found
    with _read(engine) as connection, connection.begin():
        top = connection.execute(sa.select(sa.func.max(e.id))).scalar() or 0
        missing = dict(wanted)
        while missing and top > 0:
            rows = connection.execute(
                sa.select(e.session, e.outbox_seq, e.msg_type, e.body)
                .where(e.id > top - chunk, e.id <= top, e.outbox_seq.is_not(None),
                       e.session.in_(list(missing)))
            ).all()
            passed: set[str] = set()
            for session, seq, msg_type, body in rows:
                first, last = wanted[session]
                if first < seq <= last:
                    found[session].append((int(seq), msg_type, body))
                elif seq <= first:
                    passed.add(session)  # older than the range: nothing further back
            for session in list(missing):
                first, last = wanted[session]
                if session in passed or len(found[session]) >= last - first:
                    del missing[session]
            top -= chunk
        if missing:
            log.warning("outbox: outbound rows missing from the journal for %s",
                        ", ".join(sorted(missing)))
    for rows_of_session in found.values():
        rows_of_session.sort()
    return found
