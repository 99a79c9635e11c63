"""The benchmark's machine readings and how its table shows them (#3)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from oms.bench.suite import calibration, results_table


def _document(host: dict[str, Any]) -> dict[str, Any]:
    row = {"orders_per_s": 1000.0, "ack_ms": {"p50": 1.0, "p99": 2.0},
           "fill_ms": {"p50": 1.0, "p99": 2.0}, "internal_us": {"p50": 80.0, "p99": 400.0},
           "cpu_us_per_order": 400.0, "cpus_busy": 1.2}
    return {"date": "2026-12-02T12:00:00+00:00", "machine": host,
            "params": {"orders": 100, "rate": 0.0, "window": 200},
            "results": {"relay": row}}


def _render(document: dict[str, Any]) -> str:
    console = Console(record=True, width=400)
    console.print(results_table(document))
    return " ".join(console.export_text().split())  # the caption wraps


def test_calibration_reads_the_interpreter_and_the_disk() -> None:
    readings = calibration(loops=10_000, syncs=3)
    assert set(readings) == {"python_loop_ms", "fdatasync_ms_p50"}
    assert readings["python_loop_ms"] > 0
    assert readings["fdatasync_ms_p50"] > 0


def test_table_names_the_machine_readings() -> None:
    text = _render(_document({"nproc": 2, "calibration": {"python_loop_ms": 61.5,
                                                          "fdatasync_ms_p50": 0.241}}))
    assert "1M Python additions 61.5 ms" in text
    assert "fdatasync 0.241 ms (p50)" in text


def test_table_of_an_older_document_without_readings() -> None:
    text = _render(_document({"nproc": 2}))
    assert "of 2; x relay" in text and "Python additions" not in text
