"""``oms dropcopy``: the breaks the drop-copy matcher found (#19), and acknowledging them.

``breaks`` reads the database only and exits 1 while a break is unacknowledged, so a
script or a monitoring check can run it; ``ack`` writes the acknowledgement itself."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from oms.domain.errors import OmsError

# the same words as the other commands' (oms.cli.main, which imports this module last)
CONFIG_HELP = "OMS config file (TOML)."
DB_HELP = "Database URL (default: $OMS_DATABASE_URL, else the config's)."

KINDS = {
    "external": "the broker booked a fill we do not have",
    "missing": "a fill of ours the drop copy lacks",
    "qty": "quantities differ",
    "px": "prices differ",
    "side": "sides differ",
    "duplicate": "a broker ExecID copied twice",
}


@click.group()
def dropcopy() -> None:
    """Drop copies: what a broker says it booked, against our fills."""


@dropcopy.command("breaks")
@click.option("--all", "include_acked", is_flag=True, help="Acknowledged breaks too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def breaks(include_acked: bool, as_json: bool, config_path: str | None,
           database_url: str | None) -> None:
    """List the drop-copy breaks; exit 1 while any is unacknowledged, 0 when none is."""
    from oms.cli.main import _read_engine, _row_json, console
    from oms.store import dropcopy as store

    engine = _read_engine(config_path, database_url)
    try:
        rows = store.list_breaks(engine, include_acked=include_acked)
        open_breaks = store.unacked_count(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"unacknowledged": open_breaks,
                               "breaks": [_row_json(row) for row in rows]}, indent=1))
    else:
        console.print(_table(rows, include_acked, open_breaks))
    raise SystemExit(1 if open_breaks else 0)


def _table(rows: list[dict[str, Any]], include_acked: bool, open_breaks: int) -> Table:
    from oms.cli.main import SIDE_NAMES, _plain

    title = f"Drop-copy breaks{' (all)' if include_acked else ''}: {len(rows)}"
    table = Table(title=title, caption=f"{open_breaks} unacknowledged; oms dropcopy ack ID "
                  "--comment TEXT settles one")
    for name in ("ID", "Found", "Kind", "Broker", "Broker ExecID", "Our ExecID", "OrderID",
                 "Symbol", "Side", "Qty", "Px", "Detail"):
        table.add_column(name, overflow="fold", no_wrap=name in ("ID", "Broker ExecID"))
    if include_acked:
        table.add_column("Acknowledged", overflow="fold")
    for row in rows:
        cells = [str(row["id"]), row["found_at"].strftime("%Y-%m-%d %H:%M:%S"), row["kind"],
                 row["broker"], row["broker_exec_id"] or "-", row["exec_id"] or "-",
                 row["order_id"] or "-", row["symbol"],
                 SIDE_NAMES.get(row["side"], row["side"]),
                 "" if row["qty"] is None else _plain(row["qty"]),
                 "" if row["px"] is None else _plain(row["px"]), row["detail"]]
        if include_acked:
            cells.append("" if row["acked_at"] is None else
                         f"{row['acked_at']:%Y-%m-%d %H:%M:%S}: {row['ack_comment']}")
        table.add_row(*cells)
    return table


@dropcopy.command("ack")
@click.argument("break_id", type=int)
@click.option("--comment", required=True, help="Why the break is settled (kept with it).")
@click.option("--config", "config_path", default=None, help=CONFIG_HELP)
@click.option("--database-url", default=None, help=DB_HELP)
def ack(break_id: int, comment: str, config_path: str | None,
        database_url: str | None) -> None:
    """Acknowledge break BREAK_ID: it no longer counts as open."""
    from oms.cli.main import _database_url, _fail, _read_engine
    from oms.store import dropcopy as store
    from oms.store.db import make_engine

    url = _database_url(config_path, database_url)
    # the database must exist and be migrated, as for the read commands (exit 2 if not)
    _read_engine(config_path, database_url).dispose()
    engine = make_engine(url)
    try:
        row = store.acknowledge(engine, break_id, comment)
    except OmsError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    click.echo(f"break {break_id} ({row['kind']}, {row['broker']}) acknowledged")
