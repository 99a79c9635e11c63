"""Positions as the position keeper holds them, the start of a day, fees of fills.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

#21: 0001's ``positions`` was a placeholder nothing wrote (qty, avg_cost, realized_pnl). It
is made again with what a position is folded into: the signed cost basis instead of an
average (exact), fees, the cash its trades moved, its start. ``start_positions`` and
``start_cash`` hold a day's start (``oms positions load``); ``fill_fees`` a fill's fees.
Written by hand; it must match oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms.store.types import Amount, UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _amount(name: str) -> sa.Column[object]:
    return sa.Column(name, Amount(), nullable=False)


def upgrade() -> None:
    op.drop_table("positions")
    op.create_table(
        "positions",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        _amount("qty"),
        _amount("cost"),
        _amount("realized_pnl"),
        _amount("fees"),
        _amount("cash_flow"),
        _amount("start_qty"),
        _amount("start_cost"),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "symbol", name=op.f("pk_positions")),
    )
    op.create_table(
        "start_positions",
        sa.Column("trade_date", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        _amount("qty"),
        _amount("cost"),
        sa.PrimaryKeyConstraint("trade_date", "account", "symbol",
                                name=op.f("pk_start_positions")),
    )
    op.create_table(
        "start_cash",
        sa.Column("trade_date", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        _amount("cash"),
        sa.PrimaryKeyConstraint("trade_date", "account", name=op.f("pk_start_cash")),
    )
    op.create_table(
        "fill_fees",
        sa.Column("exec_id", sa.String(), nullable=False),
        _amount("fee"),
        sa.PrimaryKeyConstraint("exec_id", name=op.f("pk_fill_fees")),
    )


def downgrade() -> None:
    for table in ("fill_fees", "start_cash", "start_positions", "positions"):
        op.drop_table(table)
    op.create_table(
        "positions",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        _amount("qty"),
        _amount("avg_cost"),
        _amount("realized_pnl"),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_positions"),
    )
