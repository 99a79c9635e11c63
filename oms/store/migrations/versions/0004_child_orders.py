"""Child orders are their own rows: ``child_orders``, and each execution names its child.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

#17: an order may have any number of child orders at brokers (DMA is the case of one).
The child's columns move out of ``orders`` (route, child_cl_ord_id, broker_order_id,
pending) into ``child_orders``; every routed order's child is carried over, named by its
ClOrdID at the time, and its executions get that ``child_id``. An execution now also keeps
the broker's OrderID of the report it came from (empty on older rows, whose child row has
it), so a child's row need not be written again when the broker acknowledges it. The
broker session of a
carried-over child is not known to the database (it comes from the config): it is left ""
and filled in from the route's config at load. Written by hand; it must match
oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms.store.types import Amount, UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_orders",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("child_id", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("session", sa.String(), nullable=False),
        sa.Column("cl_ord_id", sa.String(), nullable=False),
        sa.Column("prior_cl_ord_ids", sa.Text(), nullable=False),
        sa.Column("broker_order_id", sa.String(), nullable=False),
        sa.Column("order_qty", Amount(), nullable=False),
        sa.Column("pending", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "child_id", name=op.f("pk_child_orders")),
        sqlite_with_rowid=False,
        postgresql_with={"fillfactor": 70},
    )
    op.execute(
        "INSERT INTO child_orders (child_id, order_id, route, session, cl_ord_id, "
        "prior_cl_ord_ids, broker_order_id, order_qty, pending, version, created_at, "
        "updated_at) "
        "SELECT child_cl_ord_id, order_id, route, '', child_cl_ord_id, '', broker_order_id, "
        "order_qty, pending, version, created_at, updated_at "
        "FROM orders WHERE child_cl_ord_id != ''"
    )
    op.add_column("executions", sa.Column("child_id", sa.String(), nullable=False,
                                          server_default=""))
    op.add_column("executions", sa.Column("broker_order_id", sa.String(), nullable=False,
                                          server_default=""))
    op.execute(
        "UPDATE executions SET child_id = (SELECT o.child_cl_ord_id FROM orders o "
        "WHERE o.order_id = executions.order_id) "
        "WHERE EXISTS (SELECT 1 FROM orders o WHERE o.order_id = executions.order_id "
        "AND o.child_cl_ord_id != '')"
    )
    op.drop_index("ix_orders_child_cl_ord_id", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("pending")
        batch.drop_column("broker_order_id")
        batch.drop_column("child_cl_ord_id")
        batch.drop_column("route")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("route", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("child_cl_ord_id", sa.String(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("broker_order_id", sa.String(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("pending", sa.Text(), nullable=False, server_default=""))
    # each order gets its latest child back (an order with several keeps only that one)
    for column, source in (("route", "route"), ("child_cl_ord_id", "cl_ord_id"),
                           ("broker_order_id", "broker_order_id"), ("pending", "pending")):
        op.execute(
            f"UPDATE orders SET {column} = (SELECT c.{source} FROM child_orders c "
            "WHERE c.order_id = orders.order_id ORDER BY c.created_at DESC, c.child_id DESC "
            "LIMIT 1) WHERE EXISTS (SELECT 1 FROM child_orders c "
            "WHERE c.order_id = orders.order_id)"
        )
    op.create_index("ix_orders_child_cl_ord_id", "orders", ["child_cl_ord_id"])
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("broker_order_id")
        batch.drop_column("child_id")
    op.drop_table("child_orders")
