"""The outbox: each outbound message's place in its session, and how far each was sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

#16: a message committed to the journal but not yet handed to the FIX engine when the
process died was never sent. ``order_events.outbox_seq`` numbers the outbound rows per
session; ``fix_sessions.outbox_committed`` and ``outbox_sent`` say how far the journal and
the engine got, so the next start can send what lies between. Older rows keep NULL.
Written by hand; it must match oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_events", sa.Column("outbox_seq", sa.BigInteger(), nullable=True))
    op.add_column("fix_sessions", sa.Column("outbox_committed", sa.BigInteger(), nullable=True))
    op.add_column("fix_sessions", sa.Column("outbox_sent", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fix_sessions") as batch:
        batch.drop_column("outbox_sent")
        batch.drop_column("outbox_committed")
    with op.batch_alter_table("order_events") as batch:
        batch.drop_column("outbox_seq")
