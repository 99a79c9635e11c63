"""``oms bench``: the OMS against the do-nothing relay baseline, end to end (#3).

Each scenario starts its own broker simulator (ack + immediate fill), system under test
(the relay, or ``oms serve`` on SQLite or PostgreSQL) and load client, in separate processes
on free loopback ports, warms up, measures, and stops everything. Progress goes to stderr, a
table to stdout, and the LAST line of stdout is one JSON document with every figure. Exit
status 1 when an order did not complete or the client saw a protocol error, 2 when a
scenario could not run. Timing is never asserted: the command reports, it does not judge.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click
from rich.console import Console

from oms.bench.runner import BenchError, Load, Profile
from oms.bench.suite import default_postgres_url, results_table, run_bench, stages_table
from oms.localproc import sigterm_unwinds


@click.command()
@click.option("--orders", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Orders in the measured run.")
@click.option("--rate", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Orders per second; 0 = as fast as the window allows.")
@click.option("--window", type=click.IntRange(min=1), default=200, show_default=True,
              help="Orders outstanding at most.")
@click.option("--warmup", type=click.IntRange(min=0), default=300, show_default=True,
              help="Orders sent first in a run that is not counted.")
@click.option("--client", type=click.Choice(["sim", "raw"]), default="sim", show_default=True,
              help="The load client: sim = `oms sim client` (QuickFIX); raw = an independent "
                   "client (simplefix on a plain socket, one thread) to check the figures.")
@click.option("--database", type=click.Choice(["sqlite", "postgres", "both"]),
              default="sqlite", show_default=True, help="Database(s) of the OMS scenarios.")
@click.option("--postgres-url", default=None,
              help="PostgreSQL for the postgres scenario (a fresh schema is made and dropped; "
                   "default: $OMS_TEST_DATABASE_URL, else the local test database).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run the do-nothing relay and report OMS / relay.")
@click.option("--profile", "profile_dir", type=click.Path(file_okay=False), default=None,
              help="Record a py-spy profile of each system under test during the measured "
                   "run into this directory (figures of a profiled run are perturbed).")
@click.option("--profile-format", type=click.Choice(["flamegraph", "raw", "speedscope"]),
              default="flamegraph", show_default=True)
@click.option("--profile-gil/--profile-active", default=True, show_default=True,
              help="Sample only the thread holding the GIL (where the Python CPU goes), or "
                   "every thread py-spy sees as active.")
@click.option("--feed", "feed_rate", type=click.FloatRange(min=0), default=0.0,
              show_default=True,
              help="Also run each OMS scenario with a market-data feed of this many updates/s "
                   "(a publisher on a [[marketdata_sessions]] session) and report the ratio.")
@click.option("--feed-per-message", type=click.IntRange(min=1), default=4, show_default=True,
              help="Updates per MarketDataIncrementalRefresh of the feed.")
@click.option("--keep", is_flag=True, help="Keep each scenario's directory (configs, logs).")
@click.option("--json-only", is_flag=True, help="Print only the JSON line.")
def bench(orders: int, rate: float, window: int, warmup: int, client: str, database: str,
          postgres_url: str | None, baseline: bool, profile_dir: str | None,
          profile_format: str, profile_gil: bool, feed_rate: float, feed_per_message: int,
          keep: bool, json_only: bool) -> None:
    """Benchmark the OMS (and the relay baseline): throughput, latency, CPU per order."""
    # quickfix 1.16 resets SIGINT to SIG_DFL in C when imported; should anything have
    # imported it, put Python's handler back so Ctrl-C runs the cleanup that stops processes
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stderr = Console(stderr=True)
    databases = ["sqlite", "postgres"] if database == "both" else [database]

    def progress(line: str) -> None:
        if not json_only:
            stderr.print(f"[dim]{line}[/]", highlight=False)

    load = Load(orders=orders, rate=rate, window=window, warmup=warmup, client=client)
    profile = None
    if profile_dir:
        profile = Profile(Path(profile_dir), profile_format, gil_only=profile_gil)
    try:
        with sigterm_unwinds():  # a SIGTERM runs that cleanup too
            document = run_bench(load, databases, baseline=baseline,
                                 postgres_url=postgres_url or default_postgres_url(),
                                 keep_dirs=keep, profile=profile, feed_rate=feed_rate,
                                 feed_per_message=feed_per_message, progress=progress)
    except BenchError as exc:
        stderr.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    if not json_only:
        console = Console()
        if not console.is_terminal:
            console.width = 160  # a log file gets the whole table, not 80 columns of it
        console.print(results_table(document))
        stages = stages_table(document)
        if stages is not None:
            console.print(stages)
    click.echo(json.dumps(document, default=str))
    if not document["all_completed"]:
        sys.exit(1)
