"""order_events.transition: the state change an inbound message caused, on its own row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

#3: a transition caused by an inbound message was a row of its own (kind "transition");
it is now a column of that message's row, three rows fewer per order. Transitions that
no message caused (an operator's cancel) keep their own row. Older rows are left as they
are. Written by hand; it must match oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_events",
                  sa.Column("transition", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("order_events") as batch:
        batch.drop_column("transition")
