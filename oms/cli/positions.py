"""``oms positions``, ``oms pnl``, ``oms nav`` (#21): positions, P&L, cash and NAV, from the
running server (its keeper, marked with its market data) or, with none running, from the
database (the rows the journal wrote, marked with the last stored one-minute bar: stale).
``oms positions verify`` rebuilds the positions from the fills and compares;
``oms positions load`` stores a day's start."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import click
from rich.console import Console
from rich.table import Table

from oms.domain.errors import OmsError
from oms.portfolio.views import (
    NAV_FIGURES,
    NO_MARK,
    PNL_FIGURES,
    AccountView,
    Mark,
    accounts,
    nav_json,
    pnl_json,
    positions_json,
    row_from_json,
)

CONFIG_HELP = "OMS config file (TOML)."
DB_HELP = "Database URL (default: $OMS_DATABASE_URL, else the config's)."
SOURCE_HELP = ("Where the figures come from: the running server, the database, or "
               "(auto) the database given by --database-url, else the server when one runs, "
               "else the config's database.")

console = Console()


def _main() -> Any:
    """``oms.cli.main`` (imported late: it imports this module last)."""
    import oms.cli.main

    return oms.cli.main


def _views(source: str, config_path: str | None, database_url: str | None,
           account: str | None) -> tuple[list[AccountView], str]:
    """The accounts' figures and where they came from ("server" or "database")."""
    views, origin, _ = _marked(source, config_path, database_url, account)
    return views, origin


def _marked(source: str, config_path: str | None, database_url: str | None,
            account: str | None, symbols: Sequence[str] = ()
            ) -> tuple[list[AccountView], str, Callable[[str], Mark]]:
    """``_views``, and the marks (of the symbols held and of ``symbols``). ``auto`` with a
    ``--database-url`` given reads that database, whatever server runs."""
    cli = _main()
    if source == "server" or (source == "auto" and not database_url):
        from oms.admin import AdminError, call

        config = cli._config(config_path) if (config_path or source == "server"
                                              or cli.DEFAULT_CONFIG_PATH.exists()) else None
        if config is not None:
            try:
                query = f"?symbols={quote(','.join(symbols), safe=',')}" if symbols else ""
                live = call(config.admin_token_path, "GET", "/positions" + query)
            except AdminError as exc:
                if source == "server":
                    cli._fail(str(exc))
            else:
                if not live.get("enabled", True):
                    cli._fail("the running server keeps no positions ([positions] enabled = "
                              "false)")
                rows = [row_from_json(r) for r in live["rows"]]
                marks = {s: Mark(Decimal(m["price"]) if m["price"] is not None else None,
                                 m["source"], bool(m["stale"]))
                         for s, m in live["marks"].items()}
                cash = {a: Decimal(c) for a, c in live["start_cash"].items()}

                def live_mark(symbol: str) -> Mark:
                    return marks.get(symbol, NO_MARK)

                return accounts(rows, cash, live_mark, account), "server", live_mark
    from oms.store import positions as position_store
    from oms.store.bars import BarTable

    engine = cli._read_engine(config_path, database_url)
    rows = position_store.load_positions(engine)
    start = position_store.load_start(engine, datetime.now(UTC).date())
    bars = BarTable(engine)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)

    def mark(symbol: str) -> Mark:
        close = bars.close_before(symbol, tomorrow)
        return Mark(close, "close", True) if close is not None else NO_MARK

    return accounts(rows, dict(start.cash), mark, account), "database", mark


def _figure_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--json, --source, --config and --database-url: what positions, pnl and nav read."""
    for option in reversed((
            click.option("--json", "as_json", is_flag=True,
                         help="One JSON document instead of a table."),
            click.option("--source", type=click.Choice(["auto", "server", "database"]),
                         default="auto", show_default=True, help=SOURCE_HELP),
            click.option("--config", "config_path", default=None, help=CONFIG_HELP),
            click.option("--database-url", default=None, help=DB_HELP))):
        command = option(command)
    return command


def _money(value: Any) -> str:
    """Money for a table: to the cent (the JSON keeps every digit)."""
    return "-" if value is None else f"{Decimal(value).quantize(CENT):,}"


def _price(value: Any) -> str:
    return "-" if value is None else f"{Decimal(value).quantize(PRICE):,}"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{Decimal(value) * 100:.2f}%"


CENT, PRICE = Decimal("0.01"), Decimal("0.0001")


@click.group(invoke_without_command=True)
@click.option("--account", default=None, help="One account only.")
@_figure_options
@click.pass_context
def positions(ctx: click.Context, account: str | None, as_json: bool, source: str,
              config_path: str | None, database_url: str | None) -> None:
    """Positions per account and symbol: quantity, average cost, realized and unrealized
    P&L, fees, the mark and the market value (flat positions too: they hold P&L)."""
    if ctx.invoked_subcommand is not None:
        return
    views, origin = _views(source, config_path, database_url, account)
    found = positions_json(views)
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    table = Table(title=f"Positions ({origin})",
                  caption="mark: last trade, else mid, else previous close; * stale; money "
                  "to the cent (--json: every digit)")
    for name in ("Account", "Symbol"):
        table.add_column(name, no_wrap=True)
    for name in ("Qty", "Avg cost", "Mark", "Mkt value", "Weight", "Realized", "Unrealized",
                 "Fees", "Total P&L"):
        table.add_column(name, justify="right")
    for p in found:
        mark = _price(p["mark"]) + ("*" if p["mark"] is not None and p["mark_stale"] else "")
        table.add_row(p["account"], p["symbol"], p["quantity"], _price(p["avg_cost"]), mark,
                      *(_money(p[name]) for name in ("market_value",)), _percent(p["weight"]),
                      *(_money(p[name]) for name in ("realized_pnl", "unrealized_pnl", "fees",
                                                     "total_pnl")))
    console.print(table)


@positions.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def verify(as_json: bool, config_path: str | None, database_url: str | None) -> None:
    """Rebuild the positions from the day's start and the fills stored since, and compare
    them with the stored positions. Exit 1 when they differ."""
    from oms.bootstrap import position_differences, rebuilt_keeper
    from oms.config import OmsConfig
    from oms.store import positions as position_store

    cli = _main()
    engine = cli._read_engine(config_path, database_url)
    config = (cli._config(config_path) if (config_path or cli.DEFAULT_CONFIG_PATH.exists())
              else OmsConfig())
    keeper, problems = rebuilt_keeper(config, engine)
    stored = position_store.load_positions(engine)
    differences = position_differences(keeper.rows(), stored)
    if as_json:
        click.echo(json.dumps({"positions": len(stored), "differences": differences,
                               "problems": problems}, indent=1))
    else:
        for line in problems + differences:
            click.echo(line)
        click.echo(f"{len(stored)} positions stored, {len(differences)} differences from "
                   f"the fills" + (f", {len(problems)} fills not applied" if problems else ""))
    if differences or problems:
        sys.exit(1)


@positions.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--date", "trade_date", required=True,
              help="The trading day (YYYY-MM-DD) the file is the start of.")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def load(file: str, trade_date: str, config_path: str | None,
         database_url: str | None) -> None:
    """Store a day's start: each account's positions and cash (CSV lines
    'account,symbol,qty,avg_cost' and 'account,CASH,amount'). The server folds the fills
    from that day's 00:00 UTC on at its next start."""
    from oms.portfolio.startfile import StartFileError, read_start_file
    from oms.store import positions as position_store

    cli = _main()
    try:
        date.fromisoformat(trade_date)
    except ValueError:
        cli._fail(f"--date {trade_date!r} is not a date (YYYY-MM-DD)", 2)
    try:
        held, cash = read_start_file(file)
    except (OSError, StartFileError) as exc:
        cli._fail(str(exc), 2)
    engine = cli._engine(config_path, database_url)
    try:
        position_store.write_start(engine, trade_date, held, cash)
    except OmsError as exc:
        cli._fail(str(exc))
    click.echo(f"{file}: the start of {trade_date}: {len(held)} positions, cash of "
               f"{len(cash)} accounts (the server takes it at its next start)")


@positions.command("roll")
@click.option("--date", "trade_date", required=True,
              help="The trading day (YYYY-MM-DD) to start from the positions stored now.")
@click.option("--at", "basis", type=click.Choice(["cost", "close"]), default="cost",
              show_default=True, help="Each position's start cost: its cost basis, or its "
              "quantity at the last stored bar's close before that day.")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def roll(trade_date: str, basis: str, config_path: str | None,
         database_url: str | None) -> None:
    """Store a day's start from the previous day's close: each open position stored now
    and each account's cash. Refused once a fill of that day is booked (it would count
    twice). The server takes it at its next start."""
    from oms.store import positions as position_store
    from oms.store.bars import BarTable

    cli = _main()
    try:
        day = date.fromisoformat(trade_date)
    except ValueError:
        cli._fail(f"--date {trade_date!r} is not a date (YYYY-MM-DD)", 2)
    engine = cli._engine(config_path, database_url)
    if position_store.load_booked(engine, position_store.day_start(trade_date)):
        cli._fail(f"fills of {trade_date} are booked already: a start of {trade_date} would "
                  f"count them twice (load a start file with the positions before them)")
    rows = position_store.load_positions(engine)
    start = position_store.load_start(engine, day - timedelta(days=1))
    views = accounts(rows, dict(start.cash), lambda symbol: NO_MARK)
    bars = BarTable(engine)
    held = []
    for view in views:
        for p in view.positions:
            if not p.row.qty:
                continue
            cost = p.row.cost
            if basis == "close":
                close = bars.close_before(p.row.symbol, day)
                if close is None:
                    cli._fail(f"no stored bar of {p.row.symbol} before {trade_date}: no close")
                    return
                cost = p.row.qty * close
            held.append((view.account, p.row.symbol, p.row.qty, cost))
    cash = [(view.account, view.cash) for view in views]
    position_store.write_start(engine, trade_date, held, cash)
    click.echo(f"the start of {trade_date}: {len(held)} positions at {basis}, cash of "
               f"{len(cash)} accounts (the server takes it at its next start)")


@click.command("pnl")
@click.option("--account", default=None, help="One account only.")
@click.option("--by", "by", type=click.Choice(["account", "symbol"]), default="account",
              show_default=True)
@_figure_options
def pnl(account: str | None, by: str, as_json: bool, source: str, config_path: str | None,
        database_url: str | None) -> None:
    """Realized and unrealized P&L, fees and total P&L per account (or per symbol)."""
    views, origin = _views(source, config_path, database_url, account)
    found = pnl_json(views, by_symbol=by == "symbol")
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    table = Table(title=f"P&L ({origin})", caption="realized: gross of fees; total: "
                  "realized + unrealized - fees")
    table.add_column("Account", no_wrap=True)
    if by == "symbol":
        table.add_column("Symbol", no_wrap=True)
    for name in PNL_FIGURES:
        table.add_column(name.replace("_pnl", "").replace("_", " ").capitalize(),
                         justify="right")
    for row in found:
        table.add_row(row["account"], *([row["symbol"]] if by == "symbol" else []),
                      *(_money(row[name]) for name in PNL_FIGURES))
    console.print(table)


@click.command("nav")
@_figure_options
def nav(as_json: bool, source: str, config_path: str | None, database_url: str | None) -> None:
    """Cash, long and short market value, gross and net exposure and NAV per account and
    in total."""
    views, origin = _views(source, config_path, database_url, None)
    found = nav_json(views)
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    table = Table(title=f"NAV ({origin})", caption="NAV = cash + net exposure; short market "
                  "value is negative")
    table.add_column("Account", no_wrap=True)
    for name in NAV_FIGURES:
        table.add_column(name.replace("_", " ").capitalize(), justify="right")
    table.add_column("Unpriced / stale")
    for row in found["accounts"]:
        notes = ", ".join([*row["unpriced"], *(f"{s}*" for s in row["stale"])])
        table.add_row(row["account"], *(_money(row[name]) for name in NAV_FIGURES), notes)
    total = found["total"]
    table.add_row("total", *(_money(total[name]) for name in NAV_FIGURES), "", style="bold")
    console.print(table)


# --- rebalance -----------------------------------------------------------------------------
@click.command("rebalance")
@click.argument("targets_file", type=click.Path(dir_okay=False))
@click.option("--account", required=True, help="The account to rebalance.")
@click.option("--dry-run", is_flag=True, help="Show the trades; submit nothing.")
@click.option("--lot-size", type=Decimal, default=Decimal(1), show_default=True,
              help="Trade quantities are multiples of this.")
@click.option("--min-trade-value", type=Decimal, default=Decimal(0), show_default=True,
              help="Skip a trade worth less than this.")
@click.option("--cash-buffer", type=Decimal, default=Decimal(0), show_default=True,
              help="A fraction of NAV kept in cash: buys never spend it.")
@click.option("--allow-short", is_flag=True, help="Allow negative targets and positions.")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the submitted orders to be done.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables.")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
def rebalance(targets_file: str, account: str, dry_run: bool, lot_size: Decimal,
              min_trade_value: Decimal, cash_buffer: Decimal, allow_short: bool,
              timeout: float, as_json: bool, config_path: str | None) -> None:
    """Trade ACCOUNT toward the target weights of TARGETS_FILE ('symbol,weight' lines;
    symbols held and not named are sold out): from its positions, cash, NAV and the
    running server's marks, the trades that reach the targets, sells before buys. Without
    --dry-run they are submitted to the running server as market orders, through the same
    checks and routing as a client's, and followed until they are done (exit 1 if one is
    not filled)."""
    from oms.admin import AdminError, call
    from oms.portfolio.rebalance import (
        RebalanceError,
        TargetsError,
        plan_rebalance,
        read_targets,
    )

    cli = _main()
    try:
        targets = read_targets(targets_file)
    except (OSError, TargetsError) as exc:
        cli._fail(str(exc), 2)
    views, _, mark = _marked("server", config_path, None, account, sorted(targets))
    view = views[0] if views else AccountView(account, Decimal(0), ())
    holdings = {p.row.symbol: p.row.qty for p in view.positions if p.row.qty}
    prices: dict[str, Decimal] = {}
    for symbol in sorted(set(holdings) | set(targets)):
        price = mark(symbol).price
        if price is not None:
            prices[symbol] = price
    try:
        plan = plan_rebalance(cash=view.cash, holdings=holdings, prices=prices,
                              targets=targets, lot_size=lot_size,
                              min_trade_value=min_trade_value, cash_buffer=cash_buffer,
                              allow_short=allow_short)
    except RebalanceError as exc:
        cli._fail(str(exc), 2)
    planned = _plan_json(plan, targets)
    if dry_run or not plan.trades:
        if as_json:
            click.echo(json.dumps({"plan": planned, "orders": []}, indent=1))
        else:
            console.print(_plan_table(planned, account, dry_run=True))
        return
    config = cli._config(config_path)
    results: list[dict[str, Any]] = []
    for group in ("sell", "buy"):  # the sells' cash is there before the buys
        submitted = []
        for trade in (t for t in plan.trades if t.side == group):
            held = holdings.get(trade.symbol, Decimal(0))
            side = "1" if group == "buy" else ("5" if held - trade.qty < 0 else "2")
            try:
                answer = call(config.admin_token_path, "POST", "/orders", body={
                    "account": account, "symbol": trade.symbol, "side": side,
                    "qty": str(trade.qty), "ord_type": "1"})
            except AdminError as exc:
                results.append({"symbol": trade.symbol, "side": group, "qty": str(trade.qty),
                                "status": "REFUSED", "text": str(exc)})
                continue
            submitted.append((trade, answer["order_id"]))
        deadline = time.monotonic() + timeout
        for trade, order_id in submitted:
            state: dict[str, Any] = {}
            while True:
                try:
                    state = call(config.admin_token_path, "GET", f"/orders/{order_id}")
                except AdminError as exc:
                    state = {"status": "UNKNOWN", "text": str(exc), "done": True}
                if state.get("done") or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            results.append({"symbol": trade.symbol, "side": group, "qty": str(trade.qty),
                            "order_id": order_id, "status": state.get("status"),
                            "cum_qty": state.get("cum_qty"), "avg_px": state.get("avg_px"),
                            "text": state.get("text", "")})
    after, _, _ = _marked("server", config_path, None, account, sorted(targets))
    weights = {p.row.symbol: after[0].weight(p) for p in after[0].positions} if after else {}
    for row in planned["weights"]:
        row["now"] = _text(weights.get(row["symbol"]))
    if as_json:
        click.echo(json.dumps({"plan": planned, "orders": results}, indent=1))
    else:
        console.print(_plan_table(planned, account, dry_run=False))
        table = Table(title="Orders")
        for name in ("Symbol", "Side", "Qty", "Order", "Status", "Filled", "Avg px", "Text"):
            table.add_column(name)
        for r in results:
            table.add_row(r["symbol"], r["side"], r["qty"], r.get("order_id", ""),
                          str(r["status"]), _money(r.get("cum_qty")), _money(r.get("avg_px")),
                          r.get("text") or "")
        console.print(table)
    if any(r["status"] != "FILLED" for r in results):
        sys.exit(1)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _plan_json(plan: Any, targets: dict[str, Decimal]) -> dict[str, Any]:
    quantum = Decimal("1e-6")
    return {
        "nav": str(plan.nav), "cash_after": str(plan.cash_after),
        "buy_scale": str(plan.buy_scale),
        "trades": [{"symbol": t.symbol, "side": t.side, "qty": str(t.qty),
                    "price": str(t.price), "value": str(t.value)} for t in plan.trades],
        "weights": [{"symbol": s, "target": str(targets.get(s, Decimal(0))),
                     "before": str(plan.weights_before[s].quantize(quantum)),
                     "after": str(plan.weights_after[s].quantize(quantum))}
                    for s in sorted(plan.weights_before)],
        "skipped": [{"symbol": s, "why": why} for s, why in plan.skipped],
    }


def _plan_table(planned: dict[str, Any], account: str, *, dry_run: bool) -> Table:
    table = Table(title=f"Rebalance {account}: NAV {planned['nav']}"
                  + (" (dry run: nothing submitted)" if dry_run else ""),
                  caption="weights of NAV at the marks; after: planned")
    for name in ("Symbol", "Target", "Before", "After", "Trade"):
        table.add_column(name, justify="right" if name != "Symbol" else "left")
    trades = {t["symbol"]: f"{t['side']} {t['qty']} @ {t['price']}" for t in planned["trades"]}
    skipped = {s["symbol"]: f"skipped: {s['why']}" for s in planned["skipped"]}
    for w in planned["weights"]:
        table.add_row(w["symbol"], w["target"], w["before"], w["after"],
                      trades.get(w["symbol"]) or skipped.get(w["symbol"], ""))
    return table
