"""Drop-copy breaks: ``dropcopy_breaks``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

#19: the drop-copy matcher journals each difference it finds between a broker's drop copy
and our fills here, once; ``oms dropcopy ack`` sets ``acked_at`` and ``ack_comment``.
(``drop_copies``, the reports themselves, exists since 0001.) Written by hand; it must
match oms/store/schema.py (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms.store.types import Amount, UtcDateTime, big_id

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dropcopy_breaks",
        sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("found_at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("session", sa.String(), nullable=False),
        sa.Column("broker", sa.String(), nullable=False),
        sa.Column("broker_exec_id", sa.String(), nullable=False),
        sa.Column("exec_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", Amount(), nullable=True),
        sa.Column("px", Amount(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acked_at", UtcDateTime(), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dropcopy_breaks")),
    )
    op.create_index("ix_dropcopy_breaks_acked_at", "dropcopy_breaks", ["acked_at"])


def downgrade() -> None:
    op.drop_index("ix_dropcopy_breaks_acked_at", table_name="dropcopy_breaks")
    op.drop_table("dropcopy_breaks")
