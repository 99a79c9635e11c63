"""The initial blotter: orders, executions, order_events and the placeholder tables.

Revision ID: 0001
Revises:
Create Date: 2024-01-01

Written by hand; it must match oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms.store.types import Amount, UtcDateTime, big_id

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _str(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def _amount(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, Amount(), nullable=nullable)


def _id(name: str = "id") -> sa.Column:
    return sa.Column(name, big_id(), primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(), nullable=False),
        _str("session"),
        _str("cl_ord_id"),
        _str("orig_cl_ord_id"),
        _str("symbol"),
        _str("side"),
        _str("ord_type"),
        _str("time_in_force"),
        _amount("order_qty"),
        _amount("price", nullable=True),
        _amount("stop_px", nullable=True),
        _str("account"),
        _str("ex_destination"),
        _str("status"),
        _amount("cum_qty"),
        _amount("leaves_qty"),
        _amount("avg_px"),
        _amount("notional"),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        _str("route"),
        _str("child_cl_ord_id"),
        _str("broker_order_id"),
        sa.Column("pending", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders"),
        postgresql_with={"fillfactor": 70},
    )
    op.create_index("ix_orders_session_cl_ord_id", "orders", ["session", "cl_ord_id"])
    op.create_index("ix_orders_child_cl_ord_id", "orders", ["child_cl_ord_id"])

    op.create_table(
        "executions",
        _id("seq"),
        _str("exec_id"),
        _str("order_id"),
        _str("exec_type"),
        _str("ord_status"),
        _amount("last_qty"),
        _amount("last_px"),
        _amount("cum_qty"),
        _amount("leaves_qty"),
        _amount("avg_px"),
        _str("exec_ref_id"),
        _str("broker_session"),
        _str("broker_exec_id"),
        sa.Column("transact_time", UtcDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_executions"),
        sa.UniqueConstraint("exec_id", name="uq_executions_exec_id"),
    )
    op.create_index("ix_executions_order_id", "executions", ["order_id"])
    op.create_index(
        "uq_executions_broker_exec",
        "executions",
        ["broker_session", "broker_exec_id"],
        unique=True,
        sqlite_where=sa.text("broker_exec_id != ''"),
        postgresql_where=sa.text("broker_exec_id != ''"),
    )

    op.create_table(
        "order_events",
        _id(),
        sa.Column("ts", UtcDateTime(), nullable=False),
        _str("kind"),
        _str("order_id", nullable=True),
        _str("session"),
        _str("msg_type"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])

    # --- placeholders for later issues ---------------------------------------------------
    op.create_table(
        "drop_copies",
        _id(),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        _str("session"),
        _str("broker_exec_id"),
        _str("exec_type"),
        _str("ord_status"),
        _str("cl_ord_id"),
        _str("broker_order_id"),
        _str("account"),
        _str("symbol"),
        _str("side"),
        _amount("last_qty"),
        _amount("last_px"),
        sa.Column("transact_time", UtcDateTime(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drop_copies"),
    )
    op.create_index(
        "ix_drop_copies_session_broker_exec_id", "drop_copies", ["session", "broker_exec_id"]
    )
    op.create_index("ix_drop_copies_transact_time", "drop_copies", ["transact_time"])

    op.create_table(
        "positions",
        _str("account"),
        _str("symbol"),
        _amount("qty"),
        _amount("avg_cost"),
        _amount("realized_pnl"),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_positions"),
    )

    op.create_table(
        "fix_sessions",
        _str("name"),
        _str("role"),
        _str("sender_comp_id"),
        _str("target_comp_id"),
        _str("status"),
        sa.Column("last_logon_at", UtcDateTime(), nullable=True),
        sa.Column("last_logout_at", UtcDateTime(), nullable=True),
        sa.Column("last_inbound_seq", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_fix_sessions"),
    )

    op.create_table(
        "recon_runs",
        _id(),
        _str("trade_date"),
        _str("source"),
        _str("status"),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("breaks", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recon_runs"),
    )

    op.create_table(
        "recon_breaks",
        _id(),
        sa.Column("run_id", big_id(), nullable=False),
        _str("kind"),
        _str("symbol"),
        _str("side"),
        _amount("qty", nullable=True),
        _amount("px", nullable=True),
        _str("exec_id"),
        _str("broker_exec_id"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recon_breaks"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["recon_runs.id"],
            name="fk_recon_breaks_run_id_recon_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_recon_breaks_run_id", "recon_breaks", ["run_id"])

    op.create_table(
        "tca_results",
        _id(),
        _str("order_id"),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        _str("symbol"),
        _str("side"),
        _amount("qty"),
        _amount("avg_px"),
        _amount("arrival_px", nullable=True),
        _amount("vwap_px", nullable=True),
        _amount("shortfall_bps", nullable=True),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tca_results"),
    )
    op.create_index("ix_tca_results_order_id", "tca_results", ["order_id"])

    op.create_table(
        "market_data",
        _id(),
        _str("symbol"),
        sa.Column("ts", UtcDateTime(), nullable=False),
        _amount("bid", nullable=True),
        _amount("ask", nullable=True),
        _amount("last", nullable=True),
        _amount("volume", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_market_data"),
    )
    op.create_index("ix_market_data_symbol_ts", "market_data", ["symbol", "ts"])


def downgrade() -> None:
    for table in (
        "market_data",
        "tca_results",
        "recon_breaks",
        "recon_runs",
        "fix_sessions",
        "positions",
        "drop_copies",
        "order_events",
        "executions",
        "orders",
    ):
        op.drop_table(table)
