"""``oms routes``: the routing table the config resolves to, in the order the router reads
it (#19). It reads the config file only; ``oms sessions`` shows which sessions are up."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from oms.config import DEFAULT_CONFIG_PATH, OmsConfig


def route_table(config: OmsConfig) -> list[dict[str, Any]]:
    """One row per way an order finds its broker, first tried first: the rules, the
    ExDestination mapping, a broker's own name as ExDestination, the default route."""
    sessions = {broker.name: [{"name": s.name, "session": s.key, "address": f"{s.host}:{s.port}"}
                              for s in broker.sessions] for broker in config.brokers}
    rows: list[dict[str, Any]] = []

    def add(source: str, match: dict[str, str], broker: str) -> None:
        rows.append({"step": len(rows) + 1, "source": source, "match": match,
                     "broker": broker, "sessions": sessions[broker]})

    for number, rule in enumerate(config.routing.rules, 1):
        add(f"rule {number}", {key: str(value) for key, value in rule.model_dump().items()
                               if key != "broker" and value is not None}, rule.broker)
    for destination, name in config.routing.destinations.items():
        add("destinations", {"ex_destination": destination}, name)
    for named in config.brokers:
        if named.name not in config.routing.destinations:
            add("broker name", {"ex_destination": named.name}, named.name)
    if config.routing.default_route:
        add("default_route", {"ex_destination": "(none)"}, config.routing.default_route)
    return rows


@click.command("routes")
@click.option("--config", "config_path", default=str(DEFAULT_CONFIG_PATH), show_default=True,
              help="OMS config file (TOML).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def routes(config_path: str, as_json: bool) -> None:
    """The routing table: which broker takes an order, and on which of its sessions."""
    from oms.cli.main import _config

    config = _config(config_path)
    rows = route_table(config)
    if as_json:
        click.echo(json.dumps({"routes": rows}, indent=1))
        return
    table = Table(title="Routes", caption="the first row an order matches whose broker has a "
                  "session up takes it, on the first of the sessions that is up; an "
                  "ExDestination no row names is refused")
    for column in ("#", "From", "Matches", "Broker"):
        table.add_column(column, overflow="fold")
    table.add_column("Sessions, primary first", no_wrap=True)
    for row in rows:
        table.add_row(str(row["step"]), row["source"],
                      " ".join(f"{k}={v}" for k, v in row["match"].items()) or "any order",
                      row["broker"],
                      "\n".join(f"{s['name']} {s['address']}" for s in row["sessions"]))
    Console().print(table)
