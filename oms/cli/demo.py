"""``oms demo``: the OMS, a simulated market, broker and upstream client, on this machine.

It writes the config it runs with to ``DIR/oms.toml`` (the default config with free ports,
the database ``DIR/oms.db``, the sessions under ``DIR/sessions`` and a market-data session
to the market simulator), starts the four as separate processes (the broker simulator
fills at the market simulator's prices, ``--market``), shows a live blotter, and with ``--orders N`` stops once the client's N
orders are complete, checks the blotter (every order done, the sum of fills equal to CumQty)
and exits 0 if it all holds. Everything it made stays in DIR for inspection.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from oms.cli.logopts import LOG_FORMAT
from oms.config import DEFAULT_CONFIG_PATH, OmsConfig, config_to_toml, load_config
from oms.domain.enums import OrdStatus
from oms.localproc import free_port, sigterm_unwinds, stop_process
from oms.statelock import StateDirectoryInUse, holder

console = Console()

# #20: the client's symbols, the market's and the OMS's market-data subscription
DEMO_SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG", "AMZN")
DEMO_START_PX = "100"  # every symbol's first mid; the client's limits are drawn around it


def demo_config(directory: Path, failover: bool = False) -> OmsConfig:
    """The default config, pointed at ``directory`` and at free loopback ports; with
    ``failover`` its broker has a second session, to a backup gateway of its own. Its one
    market-data session goes to the demo's market simulator (#20)."""
    base = load_config(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else OmsConfig()
    data = base.model_dump()
    data["oms"]["database_url"] = "sqlite:///oms.db"
    data["oms"]["sessions_dir"] = "sessions"
    data["admin"]["port"] = 0
    data["upstream"] = data["upstream"][:1] or [{"target_comp_id": "CLIENT1", "port": 1}]
    data["upstream"][0]["port"] = free_port()
    data["brokers"] = data["brokers"][:1] or [
        {"name": "SIM", "sessions": [{"target_comp_id": "BROKER1", "port": 1}]}]
    # the demo's broker simulator takes the primary session; one session
    session = data["brokers"][0]["sessions"][0]
    data["brokers"][0]["sessions"] = [{**session, "host": "127.0.0.1", "port": free_port(),
                                       "reconnect_interval": 1}]
    if failover:
        data["brokers"][0]["sessions"].append(
            {**session, "name": f"{data['brokers'][0]['name']}-backup", "host": "127.0.0.1",
             "port": free_port(), "reconnect_interval": 1,
             "sender_comp_id": f"{session.get('sender_comp_id') or 'OMS'}2"})
    data["marketdata_sessions"] = [{
        "name": "MARKET", "sender_comp_id": "OMS", "target_comp_id": "MARKET",
        "host": "127.0.0.1", "port": free_port(), "reconnect_interval": 1,
        "symbols": list(DEMO_SYMBOLS)}]
    data["routing"] = {"default_route": data["brokers"][0]["name"],
                       "destinations": {k: data["brokers"][0]["name"]
                                        for k in data["routing"]["destinations"]}}
    return OmsConfig(**data, base_dir=directory)


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    handle = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "oms", *args], stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _blotter_view(engine, title: str) -> Table | Group:  # type: ignore[no-untyped-def]
    from oms.cli.main import orders_table
    from oms.store import repository

    rows = repository.list_orders(engine, status="all")
    counts = Counter(r["status"] for r in rows)
    summary = Table(title=title, show_header=True)
    summary.add_column("Orders", justify="right")
    for status in OrdStatus:
        if counts.get(status.value):
            summary.add_column(status.name.replace("_", " ").title(), justify="right")
    summary.add_row(str(len(rows)), *[str(counts[s.value]) for s in OrdStatus
                                      if counts.get(s.value)])
    return Group(summary, orders_table(rows[:12], "Latest orders"))


@click.command()
@click.option("--orders", "order_count", type=click.IntRange(min=1), default=None,
              help="Stop after this many orders are complete (default: run until Ctrl-C).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="oms-demo",
              show_default=True, help="Where the config, database and FIX stores go.")
@click.option("--rate", type=float, default=50.0, show_default=True,
              help="Orders per second the client sends.")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="With --orders: give up (exit 1) if they are not complete by then (s).")
@click.option("--quiet", is_flag=True, help="No live blotter, just the summary.")
@click.option("--log-format", type=LOG_FORMAT, default="text", show_default=True,
              help="The format of DIR/oms.log and DIR/broker.log (text or json).")
@click.option("--failover", is_flag=True,
              help="The broker has a primary and a backup gateway; the primary drops its "
                   "connection a third of the way through and refuses logons for 2 s: new "
                   "orders go to the backup, then back to the primary.")
def demo(order_count: int | None, directory: str, rate: float, timeout: float,
         quiet: bool, log_format: str, failover: bool) -> None:
    """Run the OMS with a simulated broker and client; show the blotter."""
    from oms.store import repository
    from oms.store.db import make_engine, upgrade

    folder = Path(directory).resolve()
    # #18: a demo already running in DIR keeps it; this one must not rewrite its config or
    # remove its admin token before its server finds the sessions directory locked
    running = holder(folder / "sessions")
    if running is not None:
        raise click.ClickException(str(StateDirectoryInUse(folder / "sessions", running)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sessions").mkdir(exist_ok=True)
    config = demo_config(folder, failover)
    (folder / "oms.toml").write_text(config_to_toml(config))
    database_url = config.database_url()
    engine = make_engine(database_url)
    upgrade(engine)
    already = len(repository.list_orders(engine, status="all"))
    upstream, broker = config.upstream[0], config.brokers[0].primary
    market = config.marketdata_sessions[0]
    symbols = ",".join(DEMO_SYMBOLS)
    backup = config.brokers[0].sessions[1] if failover else None
    count = order_count or 1_000_000
    processes: list[subprocess.Popen[bytes]] = []
    ok = False
    with sigterm_unwinds():  # a terminated demo stops its processes too
        try:
            # the market: the OMS reads it (arrival quotes), each broker gateway fills at it
            processes.append(_spawn([
                "sim", "market", "--port", str(market.port), "--sender", market.target_comp_id,
                "--target", market.sender_comp_id, "--target", "BROKERMD",
                *(["--target", "BACKUPMD"] if failover else []),
                "--sessions-dir", str(folder / "sim-market"), "--symbols", symbols,
                "--seed", "1", "--rate", "200", "--start-px", DEMO_START_PX,
                "--log-format", log_format,
            ], folder / "market.log"))
            # limits rest until the market reaches them, or 2 s (a short day)
            on_market = ["--market", str(market.port), "--market-symbols", symbols,
                         "--rest-timeout", "2"]
            processes.append(_spawn([
                "sim", "broker", "--port", str(broker.port), "--sender", broker.target_comp_id,
                "--target", broker.sender_comp_id, "--sessions-dir", str(folder / "sim-broker"),
                "--fill", "partial", "--fills", "3", "--fill-interval", "0.05",
                "--reject-rate", "0.02", "--log-format", log_format,
                *on_market, "--market-sender", "BROKERMD",
                *(["--drop-after", str(max(1, count // 3)), "--refuse-logons-for", "2"]
                  if failover else []),
            ], folder / "broker.log"))
            if backup is not None:
                processes.append(_spawn([
                    "sim", "broker", "--port", str(backup.port), "--sender",
                    backup.target_comp_id, "--target", backup.sender_comp_id,
                    "--sessions-dir", str(folder / "sim-backup"), "--fill", "partial",
                    "--fills", "3", "--fill-interval", "0.05", "--log-format", log_format,
                    *on_market, "--market-sender", "BACKUPMD",
                ], folder / "backup.log"))
            server = len(processes)
            token = config.admin_token_path
            token.unlink(missing_ok=True)
            processes.append(_spawn(["serve", "--config", str(folder / "oms.toml"),
                                     "--log-format", log_format], folder / "oms.log"))
            deadline = time.monotonic() + 60
            while not token.exists():
                if processes[server].poll() is not None or time.monotonic() > deadline:
                    raise click.ClickException(f"the OMS did not start; see {folder / 'oms.log'}")
                time.sleep(0.1)
            client = _spawn([
                "sim", "client", "--port", str(upstream.port), "--sender", upstream.target_comp_id,
                "--target", upstream.sender_comp_id, "--sessions-dir", str(folder / "sim-client"),
                "--orders", str(count), "--rate", str(rate), "--cancel-ratio", "0.05",
                "--replace-ratio", "0.05", "--symbols", symbols,
                "--px-min", "99.5", "--px-max", "100.5",
                "--timeout", str(timeout if order_count is not None else 10 ** 9),
            ], folder / "client.log")
            processes.append(client)
            if order_count is None:  # run until Ctrl-C
                timeout = float("inf")
            deadline = time.monotonic() + timeout
            target = already + count

            def complete() -> tuple[int, int]:
                rows = repository.list_orders(engine, status="all")
                done = sum(1 for r in rows if OrdStatus(r["status"]).is_terminal)
                return len(rows), done

            def finished() -> bool:
                total, done = complete()
                return total >= target and done >= total

            if quiet:
                while not finished() and time.monotonic() < deadline and client.poll() is None:
                    time.sleep(0.5)
            else:
                with Live(_blotter_view(engine, "Blotter"), console=console,
                          refresh_per_second=4) as live:
                    while not finished() and time.monotonic() < deadline:
                        if order_count is not None and client.poll() is not None:
                            break
                        time.sleep(0.5)
                        live.update(_blotter_view(engine, f"Blotter ({folder / 'oms.db'})"))
            try:  # let the client log out and print its summary to client.log
                client.wait(max(1.0, min(30.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            total, done = complete()
            inconsistent = repository.order_fill_consistency(engine)
            new_orders = total - already
            console.print(_blotter_view(engine, "Final blotter"))
            quoted = sum(1 for row in repository.list_orders(engine, status="all",
                                                             limit=max(new_orders, 0))
                         if row["arrival_bid"] is not None or row["arrival_ask"] is not None)
            console.print(f"orders sent by this run: {new_orders}; complete: "
                          f"{done - already if done >= already else done}; "
                          f"orders whose fills do not add up to CumQty: {len(inconsistent)}")
            console.print(f"market data: {quoted} of {new_orders} orders had an arrival "
                          f"quote; the broker filled at the market's prices (see "
                          f"{folder / 'market.log'})")
            went_over = True
            if backup is not None:
                runs = repository.session_runs(engine)
                went_over = any(session == backup.key for session, _ in runs)
                names = {broker.key: "primary", backup.key: "backup"}
                console.print(
                    "failover: child orders in the order they went out: " + ", then ".join(
                        f"{n} on the {names.get(s, s)}" for s, n in runs)
                    + f"; the primary gateway ({broker.key}) dropped its connection after "
                    f"{max(1, count // 3)} orders and refused logons for 2 s (see "
                    f"{folder / 'broker.log'})")
            ok = order_count is not None and new_orders >= count and done >= total \
                and not inconsistent and went_over
        except KeyboardInterrupt:
            ok = order_count is None
        finally:
            for process in reversed(processes):
                stop_process(process)
            engine.dispose()
    if order_count is not None and ok:
        ok = _positions_summary(config, folder)
    console.print(f"database: {folder / 'oms.db'}  logs: {folder}/*.log  "
                  f"inspect with: oms orders list --status all --database-url "
                  f"sqlite:///{folder / 'oms.db'}")
    if order_count is not None and not ok:
        console.print("[red]demo failed[/]")
        sys.exit(1)
    if order_count is not None:
        console.print("[green]demo complete[/]")


def _positions_summary(config: OmsConfig, folder: Path) -> bool:
    """#21: the positions the run left, and the same rebuilt from its fills (what
    ``oms positions verify`` does); True when they agree."""
    from oms.bootstrap import position_differences, rebuilt_keeper
    from oms.store import positions as position_store
    from oms.store.db import make_engine

    engine = make_engine(f"sqlite:///{folder / 'oms.db'}")
    try:
        stored = position_store.load_positions(engine)
        keeper, problems = rebuilt_keeper(config, engine)
        differences = position_differences(keeper.rows(), stored)
    finally:
        engine.dispose()
    fees = sum((row.fees for row in stored), Decimal(0))
    realized = sum((row.realized_pnl for row in stored), Decimal(0))
    console.print(f"positions: {len(stored)} (account, symbol) rows, realized P&L {realized}, "
                  f"fees {fees}; rebuilt from the fills: {len(differences)} differences"
                  f"{f', {len(problems)} fills not applied' if problems else ''} (oms positions "
                  f"--source database --database-url sqlite:///{folder / 'oms.db'})")
    for line in (problems + differences)[:10]:
        console.print(f"  {line}")
    return not differences and not problems


__all__ = ["demo"]
