"""#18: the JSON log format, read back from real records."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from oms.logs import JsonFormatter, setup_logging


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("oms.test")
    made = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, args, None,
                             extra=extra or None)
    return made


def test_a_json_line_carries_session_and_order_id_when_the_record_has_them():
    line = JsonFormatter().format(record("order %s denied", "O-1",
                                         session="FIX.4.4:OMS->CLIENT1", order_id="O-1"))

    parsed = json.loads(line)
    assert parsed["message"] == "order O-1 denied"
    assert parsed["level"] == "INFO" and parsed["logger"] == "oms.test"
    assert parsed["session"] == "FIX.4.4:OMS->CLIENT1" and parsed["order_id"] == "O-1"
    assert parsed["ts"].endswith("+00:00")
    assert "\n" not in line


def test_a_json_line_leaves_out_what_the_record_lacks_and_keeps_a_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = logging.getLogger("oms.test").makeRecord(
            "oms.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    parsed = json.loads(JsonFormatter().format(failed))

    assert "session" not in parsed and "order_id" not in parsed
    assert "RuntimeError: boom" in parsed["exc_info"]


@pytest.mark.parametrize(("level", "log_format"), [("verbose", "text"), ("info", "xml")])
def test_an_unknown_level_or_format_is_refused(level: str, log_format: str):
    with pytest.raises(ValueError, match="unknown log"):
        setup_logging(level, log_format)
