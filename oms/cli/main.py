"""The ``oms`` command: serve, look at the blotter, change a running server, simulate."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from decimal import Decimal
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from oms.cli.logopts import log_options, start_logging
from oms.config import DEFAULT_CONFIG_PATH, OmsConfig, load_config
from oms.domain.enums import ExecType, OrdStatus, OrdType, Side, TimeInForce
from oms.domain.errors import OmsError

console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("oms.serve")

CONFIG_HELP = "OMS config file (TOML)."
DB_HELP = "Database URL (default: $OMS_DATABASE_URL, else the config's)."


def _fail(message: str, code: int = 1) -> None:
    # not wrapped: a path or URL in the sentence must stay whole to be copied
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(code)


def _config(path: str | None) -> OmsConfig:
    try:
        return load_config(path or DEFAULT_CONFIG_PATH)
    except OmsError as exc:
        _fail(str(exc), 2)
        raise  # unreachable


def _database_url(config_path: str | None, database_url: str | None) -> str:
    config = _config(config_path) if (config_path or DEFAULT_CONFIG_PATH.exists()) else None
    url = config.database_url(database_url) if config else (database_url or _env_url())
    if not url:
        _fail("no database: pass --database-url, set OMS_DATABASE_URL or --config", 2)
    return url


def _engine(config_path: str | None, database_url: str | None):  # type: ignore[no-untyped-def]
    """The database migrated to the newest revision (created if it is a new SQLite file)."""
    from oms.store.db import make_engine, upgrade

    try:
        engine = make_engine(_database_url(config_path, database_url))
        upgrade(engine)
    except OmsError as exc:
        _fail(str(exc), 2)
    return engine


def _read_engine(config_path: str | None, database_url: str | None):  # type: ignore[no-untyped-def]
    """#18: for commands that only look. Read-only; a missing or un-migrated database is an
    error (exit 2) naming it, never a new empty one (a typo in the URL must not show an
    empty blotter)."""
    from oms.store.db import open_read_only

    try:
        return open_read_only(_database_url(config_path, database_url))
    except OmsError as exc:
        _fail(str(exc), 2)


def _env_url() -> str:
    import os

    return os.environ.get("OMS_DATABASE_URL", "")


@click.group()
@click.version_option(package_name="oms")
def main() -> None:
    """A FIX 4.4 order management system server."""


# --- serve -----------------------------------------------------------------------------
@main.command()
@click.option("--config", "config_path", default=str(DEFAULT_CONFIG_PATH), show_default=True,
              help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
@log_options
def serve(config_path: str, database_url: str | None, log_level: str | None,
          log_format: str) -> None:
    """Run the OMS server until SIGINT or SIGTERM."""
    from oms.bootstrap import OmsServer
    from oms.gc_policy import IdleCollector
    from oms.store.db import safe_url, without_password

    config = _config(config_path)
    start_logging(log_level or config.oms.log_level, log_format)
    server = OmsServer(config, database_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - the operator needs the sentence, not a trace
        server.stop()
        _fail(f"could not start: {without_password(str(exc), server.database_url)}")
    # #3: no garbage collection while orders flow, only in quiet moments (oms/gc_policy.py)
    server.collector = IdleCollector(server.work_done).start()
    upstream = ", ".join(f"{u.target_comp_id}@{u.port}" for u in config.upstream) or "none"
    brokers = ", ".join(f"{b.name}=" + "|".join(f"{s.host}:{s.port}" for s in b.sessions)
                        for b in config.brokers) or "none"
    # through the logger, not the console: a timestamp, and no wrapping in a log file
    log.info("OMS serving upstream: %s; brokers: %s; database: %s", upstream, brokers,
             safe_url(server.database_url))
    while not stop.wait(0.5):
        pass
    log.info("OMS stopping")
    server.collector.stop()
    server.stop()
    log.info("OMS stopped")


# --- db ----------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def db_upgrade(config_path: str | None, database_url: str | None) -> None:
    """Apply the Alembic migrations (idempotent)."""
    from oms.store.db import current_revision

    engine = _engine(config_path, database_url)
    console.print(f"database at revision {current_revision(engine)}")


# --- orders ------------------------------------------------------------------------------
STATUS_NAMES = {s.value: s.name.replace("_", " ").title() for s in OrdStatus}
SIDE_NAMES = {s.value: s.name.replace("_", " ").title() for s in Side}
TYPE_NAMES = {t.value: t.name.replace("_", " ").title() for t in OrdType}
EXEC_TYPE_NAMES = {e.value: e.name.replace("_", " ").title() for e in ExecType}
# the FIX specification's names ("Gtc" would be no one's)
TIME_IN_FORCE_NAMES = {TimeInForce.DAY.value: "Day", TimeInForce.GTC.value: "Good Till Cancel",
                       TimeInForce.IOC.value: "Immediate Or Cancel",
                       TimeInForce.FOK.value: "Fill Or Kill"}
# a JSON row's FIX-coded fields: each is also given by name, as "<field>_name", so a reader
# needs no FIX tables ("side": "1", "side_name": "Buy"); an unknown code's name is ""
NAMED_FIELDS = {"side": SIDE_NAMES, "ord_type": TYPE_NAMES, "status": STATUS_NAMES,
                "ord_status": STATUS_NAMES, "exec_type": EXEC_TYPE_NAMES,
                "time_in_force": TIME_IN_FORCE_NAMES}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, value in row.items():
        plain[key] = _plain(value)
        names = NAMED_FIELDS.get(key)
        if names is not None:
            plain[f"{key}_name"] = names.get(value, "")
    return plain


def orders_table(rows: list[dict[str, Any]], title: str = "Orders",
                 width: int | None = None) -> Table:
    """The blotter as a table; on a narrow terminal the less useful columns are left out."""
    compact = (width if width is not None else console.width) < 110
    table = Table(title=title)
    # IDs are never cut (an operator copies them into `oms orders show`); other cells wrap
    id_width = max([len(r["order_id"]) for r in rows] + [7])
    table.add_column("OrderID", no_wrap=True, min_width=id_width)
    columns = [("ClOrdID", "left"), ("Symbol", "left"), ("Side", "left"), ("Type", "left"),
               ("Qty", "right"), ("Price", "right"), ("CumQty", "right"),
               ("AvgPx", "right"), ("Status", "left"), ("Route", "left")]
    if compact:
        columns = [c for c in columns if c[0] not in ("Type", "Price", "Route")]
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        cells = {
            "ClOrdID": row["cl_ord_id"], "Symbol": row["symbol"],
            "Side": SIDE_NAMES.get(row["side"], row["side"]),
            "Type": TYPE_NAMES.get(row["ord_type"], row["ord_type"]),
            "Qty": _plain(row["order_qty"]),
            "Price": _plain(row["price"]) if row["price"] is not None else "",
            "CumQty": _plain(row["cum_qty"]), "AvgPx": _plain(row["avg_px"]),
            "Status": STATUS_NAMES.get(row["status"], row["status"]), "Route": row["route"],
        }
        table.add_row(row["order_id"], *[cells[name] for name, _ in columns])
    return table


@main.group()
def orders() -> None:
    """The blotter."""


@orders.command("list")
@click.option("--status", type=click.Choice(["open", "all"]), default="open", show_default=True)
@click.option("--limit", type=int, default=None, help="Show at most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def orders_list(status: str, limit: int | None, as_json: bool, config_path: str | None,
                database_url: str | None) -> None:
    """List orders from the blotter."""
    from oms.store import repository

    engine = _read_engine(config_path, database_url)
    rows = repository.list_orders(engine, status="all" if status == "all" else "open",
                                  limit=limit)
    if as_json:
        click.echo(json.dumps([_row_json(r) for r in rows], indent=1))
    else:
        console.print(orders_table(rows, f"Orders ({status}): {len(rows)}"))


@orders.command("show")
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def orders_show(order_id: str, as_json: bool, config_path: str | None,
                database_url: str | None) -> None:
    """One order, its child orders, its executions and its event journal."""
    from oms.store import repository

    engine = _read_engine(config_path, database_url)
    found = repository.get_order(engine, order_id)
    if found is None:
        _fail(f"no order {order_id}")
    assert found is not None
    if as_json:
        click.echo(json.dumps({
            "order": _row_json(found["order"]),
            "children": [_row_json(c) for c in found["children"]],
            "executions": [_row_json(e) for e in found["executions"]],
            "events": [_row_json(e) for e in found["events"]],
        }, indent=1))
        return
    children = found["children"]
    order = {**found["order"], "route": children[-1]["route"] if children else ""}
    console.print(orders_table([order], f"Order {order_id}"))
    console.print(_arrival_line(order))
    if children:
        table = Table(title="Child orders")
        for col in ("ChildID", "Route", "ClOrdID", "Earlier ClOrdIDs", "Broker OrderID",
                    "OrderQty", "Pending"):
            table.add_column(col, overflow="fold")
        for c in children:
            table.add_row(c["child_id"], c["route"], c["cl_ord_id"], c["prior_cl_ord_ids"],
                          c["broker_order_id"], _plain(c["order_qty"]),
                          "yes" if c["pending"] else "")
        console.print(table)
    fills = Table(title="Executions")
    for col in ("ExecID", "ExecType", "OrdStatus", "LastQty", "LastPx", "CumQty", "Leaves",
                "AvgPx", "Broker ExecID", "Time"):
        fills.add_column(col)
    for e in found["executions"]:
        fills.add_row(e["exec_id"], e["exec_type"], STATUS_NAMES.get(e["ord_status"], ""),
                      _plain(e["last_qty"]), _plain(e["last_px"]), _plain(e["cum_qty"]),
                      _plain(e["leaves_qty"]), _plain(e["avg_px"]), e["broker_exec_id"],
                      _plain(e["transact_time"]))
    console.print(fills)
    journal = Table(title="Journal")
    for col in ("Time", "Kind", "Session", "Type", "Body", "State change"):
        journal.add_column(col, overflow="fold")
    for ev in found["events"]:
        journal.add_row(_plain(ev["ts"]), ev["kind"], ev["session"], ev["msg_type"], ev["body"],
                        ev.get("transition") or "")
    console.print(journal)


def _arrival_line(order: dict[str, Any]) -> str:
    """#20: the quote the order arrived to, one line."""
    bid, ask, mid = order.get("arrival_bid"), order.get("arrival_ask"), order.get("arrival_mid")
    if bid is None and ask is None:
        return "Arrival quote: none (no market data for the symbol when it arrived)"
    stale = " (stale)" if order.get("arrival_stale") else ""
    return (f"Arrival quote: bid {_or_dash(_plain(bid))}  ask {_or_dash(_plain(ask))}  "
            f"mid {_or_dash(_plain(mid))}{stale}")


@orders.command("cancel")
@click.argument("order_id")
@click.option("--config", "config_path", default=str(DEFAULT_CONFIG_PATH), show_default=True,
              help=CONFIG_HELP)
def orders_cancel(order_id: str, config_path: str) -> None:
    """Ask the running server to cancel an order (through the admin interface)."""
    from oms.admin import AdminError, call

    config = _config(config_path)
    try:
        result = call(config.admin_token_path, "POST", f"/orders/{order_id}/cancel")
    except AdminError as exc:
        _fail(str(exc))
        return
    console.print(f"cancel sent for {result['order_id']}: now {result['status']}")


# --- sessions ----------------------------------------------------------------------------
@main.group("sessions", invoke_without_command=True)
@click.option("--config", "config_path", default=str(DEFAULT_CONFIG_PATH), show_default=True,
              help=CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.pass_context
def sessions(context: click.Context, config_path: str, as_json: bool) -> None:
    """The running server's FIX sessions: name, role, address, state, next sequence
    numbers, last message received and the last error a counterparty gave. With an action
    (logout, logon, reset-seq NAME), act on one."""
    from oms.admin import AdminError, call

    context.obj = config_path
    if context.invoked_subcommand is not None:
        return
    config = _config(config_path)
    try:
        result = call(config.admin_token_path, "GET", "/sessions")
    except AdminError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(result["sessions"], indent=1))
        return
    table = Table(title="FIX sessions", caption="next out / next in: the MsgSeqNum the "
                  "session sends next / expects next (one more than the messages sent / "
                  "received since its numbers last restarted); last in: its last message "
                  "received (UTC); TestReq: TestRequests we sent it")
    # the session and its address are what an operator copies: never cut
    table.add_column("Name", no_wrap=True)
    table.add_column("Session", no_wrap=True)
    table.add_column("Address", no_wrap=True)
    for col in ("Role", "State", "Next out", "Next in", "Last in", "TestReq", "Last error"):
        table.add_column(col, overflow="fold")
    for row in result["sessions"]:
        received = row.get("last_received")
        table.add_row(row.get("name") or "", row["session"].removeprefix("FIX.4.4:"),
                      row.get("address") or "", row["role"], row.get("state") or "",
                      _or_dash(row.get("next_sender_seq_num")),
                      _or_dash(row.get("next_target_seq_num")),
                      received[11:19] if received else "-",
                      str(row.get("test_requests_sent", 0)), row.get("last_error") or "")
    console.print(table)


def _session_action(action: str, help_text: str) -> None:
    @sessions.command(action, help=help_text)
    @click.argument("name")
    @click.pass_obj
    def command(config_path: str, name: str) -> None:
        from urllib.parse import quote

        from oms.admin import AdminError, call

        config = _config(config_path)
        try:
            result = call(config.admin_token_path, "POST",
                          f"/sessions/{quote(name, safe='')}/{action}")
        except AdminError as exc:
            _fail(str(exc))
            return
        console.print(f"{action}: {result['session']}")


_session_action("logout", "Log session NAME out and keep it out until `logon` (NAME: its "
                          "name in the config, or its key as `oms sessions` shows it).")
_session_action("logon", "Let session NAME log on again after a `logout`.")
_session_action("reset-seq", "Log session NAME out, then log on with ResetSeqNumFlag "
                             "(141=Y): both sides start again at MsgSeqNum 1.")


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


# --- market data (#20) -------------------------------------------------------------------
@main.group("marketdata")
def marketdata() -> None:
    """Recorded market data: load a day's quotes and trades into the database."""


@marketdata.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def marketdata_load(file: str, config_path: str | None, database_url: str | None) -> None:
    """Replay FILE (CSV `ts,symbol,kind,bid,bid_size,ask,ask_size,px,qty`, or parquet
    with pyarrow) as fast as possible into a book whose one-minute bars go to the
    database's market_bars (a bar already stored for that symbol and minute is replaced).
    The whole file is checked first: a bad line stores nothing."""
    from oms.marketdata.book import MarketDataBook
    from oms.marketdata.replay import ReplayFileError, load_ticks, replay
    from oms.marketdata.writer import MarketDataWriter
    from oms.store.bars import BarTable

    try:
        ticks = load_ticks(file)
    except ReplayFileError as exc:
        _fail(str(exc), 2)
        return
    engine = _engine(config_path, database_url)
    try:
        writer = MarketDataWriter(BarTable(engine)).start()
        book = MarketDataBook(sink=writer)
        counts = replay(ticks, book, speed=0)
        book.flush()
        writer.stop()
    finally:
        engine.dispose()
    if writer.failures:
        _fail(f"{writer.failures} writes of bars failed (see the log); "
              f"{writer.bars_written} bars stored")
    symbols = book.symbols_seen()
    click.echo(f"{file}: {counts.quotes} quotes, {counts.trades} trades, "
                  f"{len(symbols)} symbols; {writer.bars_written} one-minute bars stored")


@main.command("quotes")
@click.argument("symbols", nargs=-1)
@click.option("--config", "config_path", default=str(DEFAULT_CONFIG_PATH), show_default=True,
              help=CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def quotes(symbols: tuple[str, ...], config_path: str, as_json: bool) -> None:
    """The running server's market data: each symbol's quote, last trade, the day's
    volume and VWAP, and how old the quote is (all symbols, or SYMBOLS)."""
    from urllib.parse import quote as url_quote

    from oms.admin import AdminError, call

    config = _config(config_path)
    path = "/quotes" + (f"?symbols={url_quote(','.join(symbols), safe=',')}"
                        if symbols else "")
    try:
        result = call(config.admin_token_path, "GET", path)
    except AdminError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(result["quotes"], indent=1))
        return
    table = Table(title="Quotes", caption="age: seconds since the source stamped the quote; "
                  f"stale: older than {config.marketdata.stale_after:g} s, or none")
    table.add_column("Symbol", no_wrap=True)
    for name in ("Bid", "Bid size", "Ask", "Ask size", "Last", "Volume", "VWAP", "Age"):
        table.add_column(name, justify="right")
    table.add_column("Stale")
    for row in result["quotes"]:
        age = row.get("age_seconds")
        table.add_row(row["symbol"], *(_or_dash(row.get(k)) for k in (
            "bid", "bid_size", "ask", "ask_size", "last", "volume", "vwap")),
            "-" if age is None else f"{age:.1f}", "yes" if row.get("stale") else "no")
    console.print(table)


# --- stats -------------------------------------------------------------------------------
# the latency series of GET /stats, in the order a table shows them
STATS_SERIES = (("internal_latency_us", "internal"), ("queue_wait_us", "queue wait"),
                ("batch_us", "batch"), ("commit_us", "commit"), ("send_us", "send"),
                ("checks_us", "checks"), ("gc_pause_us", "gc pause"))
STATS_CAPTION = ("internal: NewOrderSingle received -> child order sent; queue wait: for "
                 "the core; batch: processing, commit and small sends; commit: the group "
                 "commit; send: sending a committed batch; checks: a NewOrderSingle's pre-trade "
                 "checks (fields, duplicate ClOrdID, route); gc pause: a garbage collection")


@main.command("stats")
@click.option("--config", "config_path", default=str(DEFAULT_CONFIG_PATH), show_default=True,
              help=CONFIG_HELP)
@click.option("--reset", is_flag=True,
              help="Start new latency samples (after a warm-up); the counters keep counting.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's /stats as JSON.")
def stats(config_path: str, reset: bool, as_json: bool) -> None:
    """The running server's counters and latency percentiles (us).

    To measure the OMS with a load client of your own: run it against `oms serve`, call
    `oms stats --reset` after its warm-up and `oms stats --json` before and after the run:
    the differences of process_cpu_s and orders give the CPU per order."""
    from oms.admin import AdminError, call
    from oms.percentiles import PERCENTILES

    config = _config(config_path)
    try:
        if reset:
            call(config.admin_token_path, "POST", "/stats/reset")
        result = call(config.admin_token_path, "GET", "/stats")
    except AdminError as exc:
        _fail(str(exc))
        return
    result.pop("ok", None)
    if as_json:
        click.echo(json.dumps(result))
        return
    if reset:
        console.print("latency samples reset; the counters keep counting")
    counters = Table(title="OMS counters (since start)")
    counters.add_column("counter")
    counters.add_column("value", justify="right")
    for key, value in result.items():
        if not isinstance(value, dict):
            counters.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(counters)
    latency = Table(title="OMS latency (us, since start or the last reset)",
                    caption=STATS_CAPTION)
    latency.add_column("series", no_wrap=True)
    columns = ["count"] + [name for name, _ in PERCENTILES]
    for column in columns:
        latency.add_column(column, justify="right")
    for key, label in STATS_SERIES:
        series = result.get(key) or {}
        latency.add_row(label, *(f"{series[c]:,}" if c in series else "-" for c in columns))
    console.print(latency)


from oms.cli import bench as _bench  # noqa: E402
from oms.cli import demo as _demo  # noqa: E402
from oms.cli import dropcopy as _dropcopy  # noqa: E402
from oms.cli import positions as _positions  # noqa: E402
from oms.cli import routes as _routes  # noqa: E402
from oms.cli import sim as _sim  # noqa: E402

main.add_command(_sim.sim)
main.add_command(_demo.demo)
main.add_command(_bench.bench)
main.add_command(_routes.routes)
main.add_command(_dropcopy.dropcopy)
main.add_command(_positions.positions)
main.add_command(_positions.pnl)
main.add_command(_positions.nav)
main.add_command(_positions.rebalance)

__all__ = ["main"]
