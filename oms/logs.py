"""The one logging setup of the ``oms`` command, and the log lines an operator acts on.

``setup_logging`` configures the standard library's logging once (``dictConfig``), to
stderr: ``text`` is a line of time, level, logger and message; ``json`` is one JSON object
per line with the same, plus ``session`` and ``order_id`` when the code logging the record
passed them (``log.info(..., extra={"session": key, "order_id": order_id})``), so a log
shipper can index them without parsing sentences.

``log_refusals`` is a subscriber of the core's order events: every order we denied and
every order a broker rejected is logged at INFO with its reason and ids. It reads the
event; it never changes the order or the batch.

Nothing here masks secrets: the code that has one masks it before logging it
(``oms.store.db.safe_url`` for database URLs).
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from oms.app.events import OrderDenied, OrderEvent, OrderRejected

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
# the record attributes a JSON line carries when the logging call set them (``extra=``)
CONTEXT_KEYS = ("session", "order_id", "cl_ord_id")

log = logging.getLogger("oms.orders")


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line: ts (UTC, ISO 8601), level, logger, message,
    the context keys the call passed, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def setup_logging(level: str = "info", log_format: str = "text") -> None:
    """Configure the root logger of this process: ``level`` one of ``LEVELS``, ``log_format``
    one of ``FORMATS`` (both case-insensitive; anything else is a ``ValueError``)."""
    level, log_format = level.lower(), log_format.lower()
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}: use text or json")
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else
        {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    logging.config.dictConfig({
        "version": 1,
        # loggers made at import time (every module's ``log``) keep working
        "disable_existing_loggers": False,
        "formatters": {"oms": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "oms",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # Alembic says "Context impl ..." at every start; only its problems matter here
        "loggers": {"alembic": {"level": "WARNING"}},
    })


def log_refusals(event: OrderEvent) -> None:
    """The operator's line for an order we denied or a broker rejected (subscribe it to
    ``OrderDenied`` and ``OrderRejected``)."""
    order = event.order
    context = {"session": order.session, "order_id": order.order_id,
               "cl_ord_id": order.cl_ord_id}
    if isinstance(event, OrderDenied):
        log.info("order %s (ClOrdID %s from %s) denied: %s", order.order_id, order.cl_ord_id,
                 order.session, event.reason, extra=context)
    elif isinstance(event, OrderRejected):
        broker_session = event.broker[0]
        log.info("order %s (ClOrdID %s from %s) rejected%s: %s", order.order_id,
                 order.cl_ord_id, order.session,
                 f" by {broker_session}" if broker_session else "",
                 event.text or f"OrdRejReason {event.code}", extra=context)
