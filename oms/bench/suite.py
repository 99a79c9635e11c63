"""The whole benchmark: the relay baseline and the OMS scenarios, one after the other.

``run_bench`` runs the scenarios asked for (never two at once: they would share the cores)
and returns one JSON-ready document: date, machine, parameters, and per scenario its figures
plus ``ratio_vs_relay`` (OMS / relay, the figure #3 tracks). ``results_table`` renders that
document as a rich table, ``stages_table`` the OMS's own breakdown of its internal latency.
None of them prints anything.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.table import Table

from oms.bench.runner import (
    DEFAULT_POSTGRES_URL,
    STAGES,
    Load,
    Profile,
    Scenario,
    run_scenario,
)
from oms.percentiles import percentiles


def default_postgres_url() -> str:
    return os.environ.get("OMS_TEST_DATABASE_URL", "").strip() or DEFAULT_POSTGRES_URL


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, CPU model, Python and quickfix versions."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        quickfix = version("quickfix")
    except PackageNotFoundError:
        quickfix = "unknown"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "quickfix": quickfix, "kernel": platform.release(),
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2),  # other work on the box
            "calibration": calibration()}


def calibration(loops: int = 1_000_000, syncs: int = 50) -> dict[str, float]:
    """Two readings of the machine itself, taken before the run, so that figures from
    different machines can be told apart from changes in the code (#3: four 2-vCPU
    machines of this project gave the same relay 1,640 to 4,410 orders/s).

    - ``python_loop_ms``: a pure-Python loop of ``loops`` additions, best of three: the
      speed of the interpreter, which the OMS's own work per order scales with;
    - ``fdatasync_ms_p50``: p50 (``oms.percentiles``, as every figure) of ``syncs`` 1 KiB
      writes, each followed by ``fdatasync``, in the temporary directory the scenarios'
      databases go to: what a durable commit waits for at least."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(loops):
            total += i
        best = min(best, time.perf_counter() - started)
    block = b"x" * 1024
    waits = []
    with tempfile.TemporaryFile() as file:
        fd = file.fileno()
        for _ in range(syncs):
            started = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            waits.append(time.perf_counter() - started)
    return {"python_loop_ms": round(best * 1000, 1),
            "fdatasync_ms_p50": float(percentiles(waits, scale=1000, digits=3)["p50"])}


def scenarios(databases: list[str], baseline: bool, postgres_url: str,
              feed_rate: float = 0.0, feed_per_message: int = 4) -> list[Scenario]:
    """The relay (``baseline``), the OMS on each database, and with ``feed_rate`` the OMS
    on each database again with a market-data feed of that many updates/s running."""
    rows = [Scenario("relay", "relay")] if baseline else []
    for db in databases:
        rows.append(Scenario(f"oms-{db}", "oms", db, postgres_url))
        if feed_rate:
            rows.append(Scenario(f"oms-{db}-feed", "oms", db, postgres_url,
                                 feed_rate=feed_rate, feed_per_message=feed_per_message))
    return rows


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def add_ratios(results: dict[str, dict[str, Any]]) -> None:
    """OMS / relay for throughput, ack p99 and CPU per order, on every OMS row; on each
    row with a market-data feed, the same figures over the row without it (#20)."""
    relay = results.get("relay")
    for name, row in results.items():
        quiet = results.get(name.removesuffix("-feed")) if name.endswith("-feed") else None
        if quiet is not None:
            row["ratio_vs_no_feed"] = {
                "orders_per_s": _ratio(row["orders_per_s"], quiet["orders_per_s"]),
                "ack_p99": _ratio(row["ack_ms"].get("p99"), quiet["ack_ms"].get("p99")),
                "cpu_per_order": _ratio(row["cpu_us_per_order"], quiet["cpu_us_per_order"]),
            }
        if relay is None or name == "relay":
            continue
        row["ratio_vs_relay"] = {
            "orders_per_s": _ratio(row["orders_per_s"], relay["orders_per_s"]),
            "ack_p99": _ratio(row["ack_ms"].get("p99"), relay["ack_ms"].get("p99")),
            "cpu_per_order": _ratio(row["cpu_us_per_order"], relay["cpu_us_per_order"]),
        }


def run_bench(load: Load, databases: list[str], *, baseline: bool = True,
              postgres_url: str | None = None, keep_dirs: bool = False,
              profile: Profile | None = None, feed_rate: float = 0.0,
              feed_per_message: int = 4,
              progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run every scenario; the document ``oms bench`` prints as its JSON line."""
    started = datetime.now(UTC)
    host = machine()  # before the run: its load average tells of other work on the box
    results: dict[str, dict[str, Any]] = {}
    for scenario in scenarios(databases, baseline, postgres_url or default_postgres_url(),
                              feed_rate, feed_per_message):
        results[scenario.name] = run_scenario(scenario, load, keep_dir=keep_dirs,
                                              profile=profile, progress=progress)
    add_ratios(results)
    return {
        "bench": "oms",
        "date": started.isoformat(timespec="seconds"),
        "machine": host,
        "params": {"orders": load.orders, "rate": load.rate, "window": load.window,
                   "warmup": load.warmup, "fill": "immediate", "client": load.client,
                   "feed_rate": feed_rate, "feed_per_message": feed_per_message},
        "results": results,
        "all_completed": all(r["completed"] == r["orders"] and not r["protocol_errors"]
                             for r in results.values()),
    }


def figure(result: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """One number of a scenario's result by its keys (``("ack_ms", "p99")``); None where
    the result has no such number (the relay has no stages, an old run no new figure)."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, (int, float)) else None


def _cell(figures: dict[str, Any], key: str, form: str = "{:g}") -> str:
    value = figures.get(key)
    return "-" if value is None else form.format(value)


def results_table(document: dict[str, Any]) -> Table:
    """One row per scenario: throughput, latencies, CPU per order, ratio to the relay."""
    params = document["params"]
    rate = f"{params['rate']:g}/s" if params["rate"] else "max rate"
    table = Table(title=f"oms bench: {params['orders']} orders at {rate}, window "
                        f"{params['window']} ({document['date']})")
    columns = ["scenario", "orders/s", "ack p50", "ack p90", "ack p99", "ack p99.9", "ack max",
               "fill p50", "fill p99", "int. p50", "int. p99", "CPU/order", "CPUs busy",
               "x relay"]
    feeds = any("feed_updates_per_s" in row for row in document["results"].values())
    if feeds:
        columns += ["feed upd/s", "x no feed"]
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, row in document["results"].items():
        ack, fill, internal = row["ack_ms"], row["fill_ms"], row["internal_us"]
        ratio = row.get("ratio_vs_relay", {}).get("orders_per_s")
        cells = [
            name, f"{row['orders_per_s']:,.0f}" if row["orders_per_s"] else "-",
            *(_cell(ack, p) for p in ("p50", "p90", "p99", "p99.9", "max")),
            _cell(fill, "p50"), _cell(fill, "p99"),
            _cell(internal, "p50"), _cell(internal, "p99"),
            f"{row['cpu_us_per_order']:,.0f}", _cell(row, "cpus_busy"),
            "-" if ratio is None else f"{ratio:.2f}",
        ]
        if feeds:
            quiet = row.get("ratio_vs_no_feed", {}).get("orders_per_s")
            cells += [_cell(row, "feed_updates_per_s", "{:,.0f}"),
                      "-" if quiet is None else f"{quiet:.2f}"]
        table.add_row(*cells)
    table.caption = ("ack, fill: ms from the client's send; int(ernal): us from "
                     "NewOrderSingle received to child sent; CPU/order: us of the system "
                     "under test; CPUs busy: system + broker + client over the run, of "
                     f"{document['machine']['nproc']}; x relay: orders/s OMS / relay"
                     f"{FEED_NOTE if feeds else ''}"
                     f"{_calibration_note(document['machine'])}")
    return table


FEED_NOTE = ("; feed upd/s: market-data updates the book took per second of the run; "
             "x no feed: orders/s with the feed / without")


def _calibration_note(host: dict[str, Any]) -> str:
    readings = host.get("calibration")  # an older document has none
    if not readings:
        return ""
    return (f"; this machine: 1M Python additions {readings['python_loop_ms']:g} ms, "
            f"a 1 KiB write + fdatasync {readings['fdatasync_ms_p50']:g} ms (p50)")


def stages_table(document: dict[str, Any]) -> Table | None:
    """Per OMS scenario, where the internal latency goes (the OMS's ``/stats``, us): a
    NewOrderSingle waiting for the core, a batch until the core is free again, its commit,
    sending a committed batch, a NewOrderSingle's pre-trade checks; then the measured run's
    commits and the CPU the journal spent in them per order. None when no scenario has them
    (the relay alone)."""
    rows = [(name, row) for name, row in document["results"].items()
            if any(row.get(key) for key, _ in STAGES)]
    if not rows:
        return None
    table = Table(title="where the OMS's internal latency goes (us)")
    table.add_column("scenario")
    for _, label in STAGES:
        for percentile in ("p50", "p99"):
            table.add_column(f"{label} {percentile}", justify="right")
    table.add_column("commits", justify="right")
    table.add_column("commit CPU us/order", justify="right")
    for name, row in rows:
        table.add_row(name, *(_cell(row.get(key) or {}, percentile)
                              for key, _ in STAGES for percentile in ("p50", "p99")),
                      _cell(row, "measured_commits", "{:,.0f}"),
                      _cell(row, "commit_cpu_us_per_order", "{:,.0f}"))
    return table
