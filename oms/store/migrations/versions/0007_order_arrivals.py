"""The arrival quote moves from ``orders`` to ``order_arrivals``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-16

#20: 0006 put an order's arrival quote on its ``orders`` row, which the journal rewrites on
every change of the order: four columns more on every upsert, ~4% of the order path's
instructions (``scripts/bench_path.py --callgrind``) for values written once. They move to a
table of their own, one row per order that had a quote, written with the order's first row.
The quotes already stored are copied over. Written by hand; it must match
oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms.store.types import Amount

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("arrival_bid", "arrival_ask", "arrival_mid", "arrival_stale")


def upgrade() -> None:
    op.create_table(
        "order_arrivals",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("bid", Amount(), nullable=True),
        sa.Column("ask", Amount(), nullable=True),
        sa.Column("mid", Amount(), nullable=True),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_arrivals")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO order_arrivals (order_id, bid, ask, mid, stale) "
        "SELECT order_id, arrival_bid, arrival_ask, arrival_mid, "
        "COALESCE(arrival_stale, false) FROM orders WHERE arrival_stale IS NOT NULL "
        "OR arrival_bid IS NOT NULL OR arrival_ask IS NOT NULL")
    with op.batch_alter_table("orders") as batch:
        for name in COLUMNS:
            batch.drop_column(name)


def downgrade() -> None:
    for name in COLUMNS[:3]:
        op.add_column("orders", sa.Column(name, Amount(), nullable=True))
    op.add_column("orders", sa.Column("arrival_stale", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE orders SET arrival_bid = a.bid, arrival_ask = a.ask, arrival_mid = a.mid, "
        "arrival_stale = a.stale FROM order_arrivals a WHERE a.order_id = orders.order_id")
    op.drop_table("order_arrivals")
