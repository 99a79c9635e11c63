"""The drop-copy breaks for people (#19): read them, and an operator's acknowledgement.

The journal writes each break once (``oms.app.dropcopy``); acknowledging one is the only
change a stored break ever gets, and it is written here, straight to the database, by
``oms dropcopy ack``: the running server never reads a break back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oms.domain.errors import StoreError
from oms.store.schema import dropcopy_breaks


def list_breaks(engine: Engine, *, include_acked: bool = False) -> list[dict[str, Any]]:
    """Breaks as dicts, oldest first; only those not acknowledged unless ``include_acked``."""
    query = sa.select(dropcopy_breaks).order_by(dropcopy_breaks.c.id)
    if not include_acked:
        query = query.where(dropcopy_breaks.c.acked_at.is_(None))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def unacked_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(
            sa.select(sa.func.count()).select_from(dropcopy_breaks)
            .where(dropcopy_breaks.c.acked_at.is_(None))).scalar_one())


def acknowledge(engine: Engine, break_id: int, comment: str,
                now: datetime | None = None) -> dict[str, Any]:
    """Mark break ``break_id`` acknowledged with ``comment``; the row as it now is.

    Raises ``StoreError`` saying why not: no such break, already acknowledged (when and
    why), or an empty comment."""
    if not comment.strip():
        raise StoreError("an acknowledgement needs a comment saying why the break is "
                         "settled")
    at = now or datetime.now(UTC)
    table = dropcopy_breaks
    with engine.begin() as connection:
        updated = connection.execute(
            table.update().where(table.c.id == break_id, table.c.acked_at.is_(None))
            .values(acked_at=at, ack_comment=comment)).rowcount
        row = connection.execute(sa.select(table).where(table.c.id == break_id)
                                 ).mappings().first()
    if row is None:
        raise StoreError(f"no drop-copy break {break_id} (oms dropcopy breaks --all lists "
                         "them)")
    if not updated:
        raise StoreError(f"drop-copy break {break_id} was acknowledged already, at "
                         f"{row['acked_at'].isoformat()}: {row['ack_comment']}")
    return dict(row)
