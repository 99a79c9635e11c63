"""The blotter's tables as SQLAlchemy Core ``Table`` objects (no ORM classes).

``orders``, ``executions``, ``order_events``, ``fix_sessions``, ``drop_copies`` and
``dropcopy_breaks`` are written by the journal
writer and read at start-up; ``oms.store.journaled`` says which record (``oms.app.records``)
or columns each one's rows are. The other tables are placeholders for
later issues (drop copies, positions, sessions, reconciliation, TCA, market data): simple
columns, empty until their owners write to them.

This module only declares tables. The database is created and changed by the Alembic
migrations in ``oms/store/migrations`` (``oms.store.db.upgrade``), which must produce the same
schema; ``tests/integration/test_store.py`` compares the two.

No foreign key ties executions or events to orders: the journal must be able to record an
event about an order it never created (a rejected request, a drop copy) without failing.
"""

from __future__ import annotations

import sqlalchemy as sa

from oms.store.types import Amount, UtcDateTime, big_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Terminal OrdStatus values (Filled, Canceled, Rejected, Expired): no longer loaded at start-up.
TERMINAL_STATUS_VALUES = ("2", "4", "8", "C")


def _str(name: str, **kwargs: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=False, **kwargs)  # type: ignore[arg-type]


orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(), primary_key=True),
    _str("session"),
    _str("cl_ord_id"),
    _str("orig_cl_ord_id"),
    _str("symbol"),
    _str("side"),
    _str("ord_type"),
    _str("time_in_force"),
    sa.Column("order_qty", Amount(), nullable=False),
    sa.Column("price", Amount(), nullable=True),
    sa.Column("stop_px", Amount(), nullable=True),
    _str("account"),
    _str("ex_destination"),
    _str("status"),
    sa.Column("cum_qty", Amount(), nullable=False),
    sa.Column("leaves_qty", Amount(), nullable=False),
    sa.Column("avg_px", Amount(), nullable=False),
    sa.Column("notional", Amount(), nullable=False),
    sa.Column("accepted", sa.Boolean(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # No index on status: every fill changes it, and an index on it would keep PostgreSQL
    # from updating the row in place (HOT); room is left in each page for those updates.
    sa.Index("ix_orders_session_cl_ord_id", "session", "cl_ord_id"),
    postgresql_with={"fillfactor": 70},
)

# #20 (migration 0007): the market's quote when an order arrived, one row for each order
# whose symbol had a quote then, written with the order's first row and never updated (so
# the order's own row, rewritten on every change, carries none of it); ``stale``: the quote
# was older than [marketdata] stale_after then
order_arrivals = sa.Table(
    "order_arrivals",
    metadata,
    sa.Column("order_id", sa.String(), primary_key=True),
    sa.Column("bid", Amount(), nullable=True),
    sa.Column("ask", Amount(), nullable=True),
    sa.Column("mid", Amount(), nullable=True),
    sa.Column("stale", sa.Boolean(), nullable=False),
    sqlite_with_rowid=False,
)

# an order's child orders at brokers (#17, migration 0004); its fills are the executions
# whose child_id names it
child_orders = sa.Table(
    "child_orders",
    metadata,
    # keyed by the parent first: an order's children are one range of the key, and on
    # SQLite (WITHOUT ROWID) the key is the table, so a child row is one B-tree write
    sa.Column("order_id", sa.String(), primary_key=True),  # the parent
    sa.Column("child_id", sa.String(), primary_key=True),  # its first ClOrdID
    _str("route"),  # the broker's name in the config
    _str("session"),  # the broker's FIX session ("" on a child from before 0004)
    _str("cl_ord_id"),  # its ClOrdID at the broker now
    sa.Column("prior_cl_ord_ids", sa.Text(), nullable=False),  # space-separated, oldest first
    _str("broker_order_id"),
    sa.Column("order_qty", Amount(), nullable=False),
    sa.Column("pending", sa.Text(), nullable=False),  # JSON of its outstanding request
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # no index on cl_ord_id: the core finds a child by any of its ClOrdIDs in memory, and
    # an index would cost every child row written a B-tree insert
    sqlite_with_rowid=False,
    postgresql_with={"fillfactor": 70},
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("seq", big_id(), primary_key=True, autoincrement=True),
    _str("exec_id", unique=True),
    _str("order_id"),
    _str("exec_type"),
    _str("ord_status"),
    sa.Column("last_qty", Amount(), nullable=False),
    sa.Column("last_px", Amount(), nullable=False),
    sa.Column("cum_qty", Amount(), nullable=False),
    sa.Column("leaves_qty", Amount(), nullable=False),
    sa.Column("avg_px", Amount(), nullable=False),
    _str("exec_ref_id"),
    _str("broker_session"),
    _str("broker_exec_id"),
    sa.Column("transact_time", UtcDateTime(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    # the child order whose execution it is; "" for an order never routed (#17, 0004)
    sa.Column("child_id", sa.String(), nullable=False, server_default=""),
    # the broker's OrderID on the report it came from ("" for ours): a child's broker
    # OrderID is its latest execution's, or its row's (#17, 0004)
    sa.Column("broker_order_id", sa.String(), nullable=False, server_default=""),
    sa.Index("ix_executions_order_id", "order_id"),
    # a broker ExecID counts once per broker session; ours carry "" and are exempt
    sa.Index(
        "uq_executions_broker_exec",
        "broker_session",
        "broker_exec_id",
        unique=True,
        sqlite_where=sa.text("broker_exec_id != ''"),
        postgresql_where=sa.text("broker_exec_id != ''"),
    ),
)

order_events = sa.Table(
    "order_events",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("ts", UtcDateTime(), nullable=False),
    _str("kind"),
    sa.Column("order_id", sa.String(), nullable=True),
    _str("session"),
    _str("msg_type"),
    sa.Column("body", sa.Text(), nullable=False),
    # on an inbound message's row, the state change(s) it caused (migration 0002)
    sa.Column("transition", sa.Text(), nullable=False, server_default=""),
    # on an outbound message's row, its place in the session's outbox: 1, 2, 3, ... per
    # session in the order the messages were committed (#16, migration 0003); NULL on others
    sa.Column("outbox_seq", sa.BigInteger(), nullable=True),
    sa.Index("ix_order_events_order_id", "order_id"),
)

# every ExecutionReport of a broker's drop-copy session (#19), written by the journal
drop_copies = sa.Table(
    "drop_copies",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    _str("session"),  # the drop-copy session it arrived on
    _str("broker_exec_id"),
    _str("exec_type"),
    _str("ord_status"),
    _str("cl_ord_id"),
    _str("broker_order_id"),
    _str("account"),
    _str("symbol"),
    _str("side"),
    sa.Column("last_qty", Amount(), nullable=False),
    sa.Column("last_px", Amount(), nullable=False),
    sa.Column("transact_time", UtcDateTime(), nullable=True),
    sa.Column("raw", sa.Text(), nullable=False),  # the FIX message with | separators
    sa.Index("ix_drop_copies_session_broker_exec_id", "session", "broker_exec_id"),
    sa.Index("ix_drop_copies_transact_time", "transact_time"),
)

# what the drop-copy matcher found (#19, migration 0005): each break once; an operator
# acknowledges it (``oms dropcopy ack``), the only update any row here gets
dropcopy_breaks = sa.Table(
    "dropcopy_breaks",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("found_at", UtcDateTime(), nullable=False),
    _str("kind"),  # external | missing | qty | px | side | duplicate
    _str("session"),  # the drop-copy session ("" for a fill of ours it never copied)
    _str("broker"),
    _str("broker_exec_id"),
    _str("exec_id"),  # our ExecID of the fill, "" when the fill is not ours
    _str("order_id"),
    _str("symbol"),
    _str("side"),
    sa.Column("qty", Amount(), nullable=True),
    sa.Column("px", Amount(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("acked_at", UtcDateTime(), nullable=True),
    sa.Column("ack_comment", sa.Text(), nullable=False),
    # ``oms dropcopy breaks`` reads the unacknowledged ones
    sa.Index("ix_dropcopy_breaks_acked_at", "acked_at"),
)

# --- placeholders for later issues -------------------------------------------------------

# #21: each (account, symbol)'s position as the position keeper holds it, upserted in the
# commit of the fill, bust or correction that changed it (``oms.portfolio.keeper``). A
# position is the fold of its start (``start_positions``) and its fills in booking order;
# ``cost`` is the signed cost basis of the open quantity (avg cost = cost / qty), so every
# figure is exact. ``cash_flow``: what its trades paid and received (sells +, buys -).
positions = sa.Table(
    "positions",
    metadata,
    sa.Column("account", sa.String(), primary_key=True),
    sa.Column("symbol", sa.String(), primary_key=True),
    sa.Column("qty", Amount(), nullable=False),  # signed: negative is short
    sa.Column("cost", Amount(), nullable=False),
    sa.Column("realized_pnl", Amount(), nullable=False),  # gross of fees
    sa.Column("fees", Amount(), nullable=False),
    sa.Column("cash_flow", Amount(), nullable=False),
    sa.Column("start_qty", Amount(), nullable=False),
    sa.Column("start_cost", Amount(), nullable=False),
    sa.Column("trades", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# #21: the start of a trading day (``oms positions load FILE --date D``): each account's
# positions and cash then. The keeper folds the fills booked from that date's 00:00 UTC on;
# with no start loaded, from the first fill stored (every position starts flat).
start_positions = sa.Table(
    "start_positions",
    metadata,
    _str("trade_date", primary_key=True),  # YYYY-MM-DD
    sa.Column("account", sa.String(), primary_key=True),
    sa.Column("symbol", sa.String(), primary_key=True),
    sa.Column("qty", Amount(), nullable=False),
    sa.Column("cost", Amount(), nullable=False),
)

start_cash = sa.Table(
    "start_cash",
    metadata,
    _str("trade_date", primary_key=True),
    sa.Column("account", sa.String(), primary_key=True),
    sa.Column("cash", Amount(), nullable=False),
)

# #21: a fill's fees (the broker's Commission, else the broker's configured schedule), one
# row per fill that has any, written with the fill
fill_fees = sa.Table(
    "fill_fees",
    metadata,
    sa.Column("exec_id", sa.String(), primary_key=True),  # our ExecID of the fill
    sa.Column("fee", Amount(), nullable=False),
)

fix_sessions = sa.Table(
    "fix_sessions",
    metadata,
    sa.Column("name", sa.String(), primary_key=True),  # e.g. "FIX.4.4:OMS->CLIENT1"
    _str("role"),  # "upstream" | "broker" | "drop_copy"
    _str("sender_comp_id"),
    _str("target_comp_id"),
    _str("status"),  # "logged_on" | "logged_out" | ...
    sa.Column("last_logon_at", UtcDateTime(), nullable=True),
    sa.Column("last_logout_at", UtcDateTime(), nullable=True),
    # MsgSeqNum of the last inbound application message whose effects are committed; at
    # start the engine is told to expect the next one, so the counterparty resends whatever
    # arrived but was never committed (#2: durability across kill -9)
    sa.Column("last_inbound_seq", sa.BigInteger(), nullable=True),
    # the outbox (#16): the last outbound message committed for this session and the last
    # one known to have been handed to the FIX engine (``order_events.outbox_seq``); at
    # start, what lies between them is checked against the engine's message store and
    # whatever never reached it is sent (oms/fix/outbox.py)
    sa.Column("outbox_committed", sa.BigInteger(), nullable=True),
    sa.Column("outbox_sent", sa.BigInteger(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

recon_runs = sa.Table(
    "recon_runs",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    _str("trade_date"),  # YYYY-MM-DD
    _str("source"),  # "drop_copy" | a broker file name
    _str("status"),  # "running" | "done" | "failed"
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("matched", sa.Integer(), nullable=False),
    sa.Column("breaks", sa.Integer(), nullable=False),
    sa.Column("report", sa.Text(), nullable=False),
)

recon_breaks = sa.Table(
    "recon_breaks",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column(
        "run_id",
        big_id(),
        sa.ForeignKey("recon_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _str("kind"),  # "missing_ours" | "missing_theirs" | "qty" | "px" | ...
    _str("symbol"),
    _str("side"),
    sa.Column("qty", Amount(), nullable=True),
    sa.Column("px", Amount(), nullable=True),
    _str("exec_id"),
    _str("broker_exec_id"),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Index("ix_recon_breaks_run_id", "run_id"),
)

tca_results = sa.Table(
    "tca_results",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    _str("order_id"),
    sa.Column("computed_at", UtcDateTime(), nullable=False),
    _str("symbol"),
    _str("side"),
    sa.Column("qty", Amount(), nullable=False),
    sa.Column("avg_px", Amount(), nullable=False),
    sa.Column("arrival_px", Amount(), nullable=True),
    sa.Column("vwap_px", Amount(), nullable=True),
    sa.Column("shortfall_bps", Amount(), nullable=True),
    sa.Column("metrics", sa.Text(), nullable=False),  # JSON of further metrics
    sa.Index("ix_tca_results_order_id", "order_id"),
)

market_data = sa.Table(
    "market_data",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    _str("symbol"),
    sa.Column("ts", UtcDateTime(), nullable=False),
    sa.Column("bid", Amount(), nullable=True),
    sa.Column("ask", Amount(), nullable=True),
    sa.Column("last", Amount(), nullable=True),
    sa.Column("volume", Amount(), nullable=True),
    sa.Index("ix_market_data_symbol_ts", "symbol", "ts"),
)

# #20: the one-minute bars of the market data book (``oms.store.bars``), written by the
# market data writer thread as each minute closes, never by the journal
market_bars = sa.Table(
    "market_bars",
    metadata,
    sa.Column("symbol", sa.String(), primary_key=True),
    sa.Column("minute", UtcDateTime(), primary_key=True),  # the bar's start
    sa.Column("open", Amount(), nullable=False),
    sa.Column("high", Amount(), nullable=False),
    sa.Column("low", Amount(), nullable=False),
    sa.Column("close", Amount(), nullable=False),
    sa.Column("volume", Amount(), nullable=False),
    sa.Column("vwap", Amount(), nullable=False),
)
