"""Market data: ``market_bars``, and the arrival quote on ``orders``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-15

#20: the market data book's one-minute bars (written by its writer thread, keyed by symbol
and minute), and the quote each order found when it arrived (NULL for the orders before,
and for an order whose symbol had no quote). Written by hand; it must match
oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms.store.types import Amount, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ARRIVAL = ("arrival_bid", "arrival_ask", "arrival_mid")


def upgrade() -> None:
    op.create_table(
        "market_bars",
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("minute", UtcDateTime(), nullable=False),
        sa.Column("open", Amount(), nullable=False),
        sa.Column("high", Amount(), nullable=False),
        sa.Column("low", Amount(), nullable=False),
        sa.Column("close", Amount(), nullable=False),
        sa.Column("volume", Amount(), nullable=False),
        sa.Column("vwap", Amount(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "minute", name=op.f("pk_market_bars")),
    )
    # nullable columns with no default: no table rewrite on PostgreSQL; SQLite adds them
    # in place
    for name in ARRIVAL:
        op.add_column("orders", sa.Column(name, Amount(), nullable=True))
    op.add_column("orders", sa.Column("arrival_stale", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name in (*ARRIVAL, "arrival_stale"):
            batch.drop_column(name)
    op.drop_table("market_bars")
