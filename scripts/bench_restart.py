"""Restart with many open orders: how long until the OMS accepts new flow?

Fills a fresh blotter with N working orders (half of them partly filled), then starts the
OMS on it, with a simulated broker in its own process, and measures:

* load:   reading the open orders and their fills from the blotter into the core
* start:  ``OmsServer.start()`` as a whole (migrations check, load, FIX engines up)
* ready:  from the start call until a new order sent by a client is acknowledged

Prints a table and one JSON line. Usage:

    python scripts/bench_restart.py [--orders 100000] [--database-url URL]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import click

from oms.app.records import Batch, ChildSnapshot, ExecutionRecord, OrderSnapshot
from oms.bootstrap import OmsServer
from oms.config import OmsConfig
from oms.localproc import free_port
from oms.sim.client import ClientOptions, UpstreamClient
from oms.store import repository
from oms.store.db import make_engine, upgrade
from oms.store.journal import JournalWriter


def populate(database_url: str, count: int) -> None:
    """Write ``count`` working orders straight through the journal writer."""
    engine = make_engine(database_url)
    upgrade(engine)
    writer = JournalWriter(engine)
    now = datetime.now(UTC)
    qty, px = Decimal(1000), Decimal("101.25")
    batch = Batch()
    for n in range(count):
        filled = n % 2 == 0
        cum = Decimal(400) if filled else Decimal(0)
        order_id = f"R-{n}"
        batch.orders[order_id] = OrderSnapshot(
            order_id=order_id, session="FIX.4.4:OMS->CLIENT1", cl_ord_id=f"old-{n}",
            orig_cl_ord_id="", symbol="IBM", side="1", ord_type="2", time_in_force="1",
            order_qty=qty, price=px, stop_px=None, account="BENCH", ex_destination="",
            status="1" if filled else "0", cum_qty=cum, leaves_qty=qty - cum,
            avg_px=px if filled else Decimal(0), notional=cum * px, accepted=True,
            text="", version=2, created_at=now, updated_at=now)
        batch.children[f"child-{n}"] = ChildSnapshot(
            child_id=f"child-{n}", order_id=order_id, route="SIM",
            session="FIX.4.4:OMS->BROKER1", cl_ord_id=f"child-{n}", prior_cl_ord_ids="",
            broker_order_id=f"B-{n}", order_qty=qty, pending="", version=1, created_at=now,
            updated_at=now)
        if filled:
            batch.executions.append(ExecutionRecord(
                exec_id=f"E-{n}", order_id=order_id, exec_type="F", ord_status="1",
                last_qty=cum, last_px=px, cum_qty=cum, leaves_qty=qty - cum, avg_px=px,
                exec_ref_id="", broker_session="FIX.4.4:OMS->BROKER1",
                broker_exec_id=f"BX-{n}", transact_time=now, child_id=f"child-{n}",
                broker_order_id=f"B-{n}"))
        if len(batch.orders) >= 2000:
            writer.write_now(batch)
            batch = Batch()
    writer.write_now(batch)
    writer.stop()
    engine.dispose()


@click.command()
@click.option("--orders", type=int, default=100_000, show_default=True)
@click.option("--database-url", default=None, help="Default: a SQLite file in a temp dir.")
def main(orders: int, database_url: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="oms-restart-"))
    url = database_url or f"sqlite:///{folder / 'oms.db'}"
    schema = ""
    if database_url and database_url.startswith("postgresql"):
        schema = f"bench_restart_{int(time.time())}"
        admin = make_engine(database_url)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        admin.dispose()
        url = f"{database_url}{'&' if '?' in database_url else '?'}options=-csearch_path%3D{schema}"
    t = time.perf_counter()
    populate(url, orders)
    populate_s = time.perf_counter() - t
    upstream_port, broker_port = free_port(), free_port()
    config = OmsConfig(
        oms={"database_url": url, "sessions_dir": str(folder / "sessions"),
             "log_level": "WARNING"},
        admin={"port": 0},
        upstream=[{"target_comp_id": "CLIENT1", "port": upstream_port}],
        brokers=[{"name": "SIM", "target_comp_id": "BROKER1", "port": broker_port,
                  "reconnect_interval": 1}],
        routing={"default_route": "SIM"}, base_dir=folder)
    broker = subprocess.Popen(
        [sys.executable, "-m", "oms", "sim", "broker", "--port", str(broker_port),
         "--sessions-dir", str(folder / "broker")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=folder)  # not the caller's directory: `-m` would import an `oms` found there
    server = OmsServer(config)
    client = None
    try:
        time.sleep(1.0)  # the broker simulator listening
        engine = make_engine(url)
        t = time.perf_counter()
        loaded = repository.load_open_orders(engine)
        load_s = time.perf_counter() - t
        engine.dispose()
        t0 = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - t0
        client = UpstreamClient(ClientOptions(
            sessions_dir=folder / "client", port=upstream_port, reset_on_logon=False,
            reconnect_interval=1))
        client.start()
        client.wait_logged_on(30)
        while not server.application.is_logged_on("FIX.4.4:OMS->BROKER1"):
            time.sleep(0.005)
        cl_ord_id = client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
        client.wait_for(lambda: client.order(cl_ord_id).acked_at is not None, 30)
        ready_s = time.perf_counter() - t0
    finally:
        if client is not None:
            client.stop()
        server.stop()
        broker.terminate()
        broker.wait(15)
        if schema:  # leave the PostgreSQL database as we found it
            admin = make_engine(database_url)
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    figures = {
        "benchmark": "restart", "date": datetime.now(UTC).date().isoformat(),
        "database": url.split(":", 1)[0], "open_orders": len(loaded),
        "populate_s": round(populate_s, 2), "load_s": round(load_s, 2),
        "start_s": round(start_s, 2), "ready_s": round(ready_s, 2),
    }
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Restart with {len(loaded):,} open orders ({figures['database']})")
    for column in ("load (s)", "server start (s)", "first new order acked (s)"):
        table.add_column(column, justify="right")
    table.add_row(str(figures["load_s"]), str(figures["start_s"]), str(figures["ready_s"]))
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
