"""The blotter: SQLAlchemy 2 tables, migrations, the group-commit journal writer, reads.

The only package that imports SQLAlchemy. ``db`` builds engines and migrates, ``schema``
declares the tables, ``journal`` writes the core's batches, ``repository`` reads them back.
"""

from oms.store.db import (
    current_revision,
    head_revision,
    make_engine,
    normalize_url,
    open_read_only,
    upgrade,
)
from oms.store.journal import JournalWriter
from oms.store.repository import (
    get_order,
    list_orders,
    load_open_orders,
    load_seen_broker_exec_ids,
    load_session_cl_ord_ids,
    order_fill_consistency,
)

__all__ = [
    "JournalWriter",
    "current_revision",
    "get_order",
    "head_revision",
    "list_orders",
    "load_open_orders",
    "load_seen_broker_exec_ids",
    "load_session_cl_ord_ids",
    "make_engine",
    "normalize_url",
    "open_read_only",
    "order_fill_consistency",
    "upgrade",
]
