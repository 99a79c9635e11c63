"""Nearest-rank latency percentiles, the one definition the OMS, its simulators and its
benchmarks report with (so their figures can be compared)."""

from __future__ import annotations

from collections.abc import Iterable

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9), ("max", 100.0))


def percentiles(samples: Iterable[float], scale: float = 1.0,
                digits: int = 1) -> dict[str, float | int]:
    """``count`` and p50/p90/p99/p99.9/max of ``samples`` times ``scale``, rounded to
    ``digits``; only ``count`` when there are no samples."""
    ordered = sorted(samples)
    result: dict[str, float | int] = {"count": len(ordered)}
    for name, pct in PERCENTILES:
        if ordered:
            rank = max(1, -(-len(ordered) * pct // 100))
            result[name] = round(ordered[int(rank) - 1] * scale, digits)
    return result
