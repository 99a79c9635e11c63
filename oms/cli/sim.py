"""``oms sim broker``, ``oms sim client`` and ``oms sim market``: the simulators behind CLI
flags."""

from __future__ import annotations

import gc
import json
import signal
import sys
import threading
from decimal import Decimal
from pathlib import Path

import click

from oms.cli.logopts import log_options, start_logging


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@click.group()
def sim() -> None:
    """Simulators: a broker, an upstream client and a market-data feed."""


@sim.command("broker")
@click.option("--port", type=int, default=9877, show_default=True)
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--sender", "sender_comp_id", default="BROKER1", show_default=True,
              help="The broker's CompID.")
@click.option("--target", "target_comp_ids", multiple=True, default=["OMS"], show_default=True,
              help="CompID(s) of the OMS sessions it accepts (repeatable).")
@click.option("--sessions-dir", type=click.Path(file_okay=False), default="sessions/sim-broker",
              show_default=True)
@click.option("--fill", "fill_mode", type=click.Choice(["immediate", "partial", "none"]),
              default="immediate", show_default=True)
@click.option("--fills", "partial_fills", type=click.IntRange(min=1), default=3,
              show_default=True, help="Fills per order with --fill partial.")
@click.option("--fill-interval", type=float, default=0.1, show_default=True,
              help="Seconds between partial fills.")
@click.option("--fill-px", type=str, default=None,
              help="Fill every order at this price (default: limit price, else --market-px).")
@click.option("--market-px", type=str, default="100", show_default=True)
@click.option("--reject-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--session-reject-symbols", default="",
              help="Comma list: orders for these symbols get a session-level Reject (3).")
@click.option("--cancel", "cancel_policy", type=click.Choice(["accept", "deny"]),
              default="accept", show_default=True)
@click.option("--replace", "replace_policy", type=click.Choice(["accept", "deny"]),
              default="accept", show_default=True)
@click.option("--unsolicited-cancel-rate", type=click.FloatRange(0, 1), default=0.0,
              show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--reset-on-logon/--no-reset-on-logon", default=False, show_default=True)
@click.option("--file-log", is_flag=True, help="Keep a QuickFIX message log.")
@click.option("--drop-after", type=click.IntRange(min=0), default=0, show_default=True,
              help="Drop every connection (no Logout) after this many orders; 0: never. "
                   "SIGUSR1 drops them at any time.")
@click.option("--refuse-logons-for", type=click.FloatRange(min=0), default=0.0,
              show_default=True, help="After a drop, refuse logons for this many seconds.")
@click.option("--shared-book", is_flag=True,
              help="One book for all sessions: a cancel or replace may come on another "
                   "session than its order (a backup gateway).")
@click.option("--dropcopy-target", "dropcopy_target_comp_ids", multiple=True,
              help="CompID(s) of OMS drop-copy sessions it accepts (repeatable); each gets "
                   "a copy (797=Y) of every fill.")
@click.option("--dropcopy-sender", "dropcopy_sender_comp_id", default="",
              help="Its CompID on the drop-copy sessions (default: --sender).")
@click.option("--dropcopy-skip", type=click.IntRange(min=0), default=0, show_default=True,
              help="Leave out the copy of every Nth fill; 0: none.")
@click.option("--dropcopy-extra", type=click.IntRange(min=0), default=0, show_default=True,
              help="Copy this many fills of an order the OMS never sent.")
@click.option("--dropcopy-alter", is_flag=True, help="Send the first copy with another qty.")
@click.option("--dropcopy-duplicate", is_flag=True,
              help="Send the second copy twice, without PossDupFlag.")
@click.option("--market", "market_port", type=click.IntRange(1, 65535), default=None,
              help="Fill at the prices of the market-data feed (oms sim market) on this "
                   "port: the touch worsened by --impact-bps; limits rest until reached.")
@click.option("--market-host", default="127.0.0.1", show_default=True)
@click.option("--market-sender", default="OMS", show_default=True,
              help="Our CompID on the market-data session.")
@click.option("--market-target", default="MARKET", show_default=True,
              help="The market's CompID.")
@click.option("--market-symbols", default="",
              help="Comma list subscribed at logon (the symbols of orders are added as "
                   "they come).")
@click.option("--impact-bps", default="1", show_default=True,
              help="With --market: fills this much worse than the touch.")
@click.option("--rest-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --market: cancel a resting limit the market has not reached after "
                   "this many seconds; 0: never.")
@log_options
def broker(port: int, host: str, sender_comp_id: str, target_comp_ids: tuple[str, ...],
           sessions_dir: str, fill_mode: str, partial_fills: int, fill_interval: float,
           fill_px: str | None, market_px: str, reject_rate: float,
           session_reject_symbols: str, cancel_policy: str, replace_policy: str,
           unsolicited_cancel_rate: float, seed: int | None, reset_on_logon: bool,
           file_log: bool, drop_after: int, refuse_logons_for: float, shared_book: bool,
           dropcopy_target_comp_ids: tuple[str, ...], dropcopy_sender_comp_id: str,
           dropcopy_skip: int, dropcopy_extra: int, dropcopy_alter: bool,
           dropcopy_duplicate: bool, market_port: int | None, market_host: str,
           market_sender: str, market_target: str, market_symbols: str, impact_bps: str,
           rest_timeout: float, log_level: str | None, log_format: str) -> None:
    """A simulated broker (FIX acceptor) the OMS routes orders to."""
    from oms.sim.broker import BrokerSimOptions, run_broker

    start_logging(log_level, log_format)
    options = BrokerSimOptions(
        sessions_dir=Path(sessions_dir), host=host, port=port, sender_comp_id=sender_comp_id,
        target_comp_ids=list(target_comp_ids), fill_mode=fill_mode,  # type: ignore[arg-type]
        partial_fills=partial_fills, fill_interval=fill_interval,
        fill_px=Decimal(fill_px) if fill_px else None, market_px=Decimal(market_px),
        reject_rate=reject_rate, session_reject_symbols=_comma_list(session_reject_symbols),
        cancel_policy=cancel_policy,  # type: ignore[arg-type]
        replace_policy=replace_policy,  # type: ignore[arg-type]
        unsolicited_cancel_rate=unsolicited_cancel_rate, seed=seed,
        reset_on_logon=reset_on_logon, file_log=file_log, shared_book=shared_book,
        drop_after=drop_after, refuse_logons_for=refuse_logons_for,
        dropcopy_target_comp_ids=list(dropcopy_target_comp_ids),
        dropcopy_sender_comp_id=dropcopy_sender_comp_id, dropcopy_skip=dropcopy_skip,
        dropcopy_extra=dropcopy_extra, dropcopy_alter=dropcopy_alter,
        dropcopy_duplicate=dropcopy_duplicate, market_port=market_port,
        market_host=market_host, market_sender=market_sender, market_target=market_target,
        market_symbols=_comma_list(market_symbols), impact_bps=Decimal(impact_bps),
        rest_timeout=rest_timeout)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # What start-up loaded (~70,000 objects: quickfix, pydantic, click, the oms package) is
    # never garbage: frozen, no collection walks it. Otherwise a full collection in the
    # middle of the flow walks it all, a stall of ~40 ms in the broker that the benchmark
    # reads as the OMS's ack latency, and that came and went with every module imported.
    gc.freeze()
    counters = run_broker(options, stop)
    click.echo(json.dumps(counters))


@sim.command("client")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9876, show_default=True)
@click.option("--sender", "sender_comp_id", default="CLIENT1", show_default=True)
@click.option("--target", "target_comp_id", default="OMS", show_default=True)
@click.option("--sessions-dir", type=click.Path(file_okay=False), default="sessions/sim-client",
              show_default=True)
@click.option("--orders", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--rate", type=float, default=10.0, show_default=True,
              help="Orders per second; 0 = as fast as the window allows.")
@click.option("--window", type=click.IntRange(min=1), default=100, show_default=True,
              help="Outstanding orders at most with --rate 0.")
@click.option("--symbols", default="AAPL,MSFT,IBM,GOOG,AMZN", show_default=True)
@click.option("--sides", default="buy,sell", show_default=True)
@click.option("--limit-ratio", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of limit orders; the rest are market orders.")
@click.option("--qty-min", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--qty-max", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--px-min", default="50", show_default=True)
@click.option("--px-max", default="150", show_default=True)
@click.option("--tif", "time_in_force", type=click.Choice(["0", "1", "3", "4"]), default="0",
              show_default=True, help="TimeInForce: 0 Day, 1 GTC, 3 IOC, 4 FOK.")
@click.option("--account", default="DEMO", show_default=True)
@click.option("--ex-destination", default="", help="ExDestination (100) on every order.")
@click.option("--cancel-ratio", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--replace-ratio", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--replace-cancel-ratio", type=click.FloatRange(0, 1), default=0.0,
              show_default=True, help="Share of orders replaced, then canceled.")
@click.option("--timeout", type=float, default=60.0, show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--reset-on-logon/--no-reset-on-logon", default=False, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print every message received.")
@log_options
def client(host: str, port: int, sender_comp_id: str, target_comp_id: str, sessions_dir: str,
           orders: int, rate: float, window: int, symbols: str, sides: str, limit_ratio: float,
           qty_min: int, qty_max: int, px_min: str, px_max: str, time_in_force: str,
           account: str, ex_destination: str, cancel_ratio: float, replace_ratio: float,
           replace_cancel_ratio: float, timeout: float, seed: int | None, reset_on_logon: bool, as_json: bool,
           verbose: bool, log_level: str | None, log_format: str) -> None:
    """A simulated upstream client: sends orders and prints what came back."""
    from rich.console import Console

    from oms.sim.client import ClientOptions, LogonTimeout, run_client

    start_logging(log_level or "warning", log_format)
    try:
        options = ClientOptions(
            host=host, port=port, sender_comp_id=sender_comp_id,
            target_comp_id=target_comp_id, sessions_dir=Path(sessions_dir), orders=orders,
            rate=rate, window=window, symbols=_comma_list(symbols),
            sides=_comma_list(sides),  # type: ignore[arg-type]
            limit_ratio=limit_ratio, min_qty=qty_min, max_qty=qty_max,
            min_price=Decimal(px_min), max_price=Decimal(px_max),
            time_in_force=time_in_force, account=account or None,
            ex_destination=ex_destination or None, cancel_ratio=cancel_ratio,
            replace_ratio=replace_ratio, replace_cancel_ratio=replace_cancel_ratio,
            timeout=timeout, seed=seed,
            reset_on_logon=reset_on_logon, verbose=verbose)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    console = Console(stderr=True) if as_json else Console()
    try:
        summary = run_client(options, console)
    except LogonTimeout as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(summary, default=str))
    if summary.get("outstanding", 0) or summary.get("protocol_errors", 0):
        sys.exit(1)


@sim.command("market")
@click.option("--port", type=int, default=9878, show_default=True)
@click.option("--sender", "sender_comp_id", default="MARKET", show_default=True,
              help="The market's CompID.")
@click.option("--target", "target_comp_ids", multiple=True, default=["OMS"], show_default=True,
              help="CompID(s) of the sessions it accepts (repeatable).")
@click.option("--sessions-dir", type=click.Path(file_okay=False), default="sessions/sim-market",
              show_default=True)
@click.option("--symbols", default="AAPL,MSFT,IBM,GOOG,AMZN", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="The same seed gives the same stream.")
@click.option("--start-px", default=None,
              help="Every symbol's first mid price (default: drawn from the seed).")
@click.option("--rate", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="Market events (quotes and trades) per second over all symbols; 0: flat out.")
@click.option("--session-steps", type=click.IntRange(min=10), default=23_400,
              show_default=True, help="Quotes in one simulated trading session (open to close).")
@click.option("--file-log", is_flag=True, help="Keep a QuickFIX message log.")
@log_options
def market(port: int, sender_comp_id: str, target_comp_ids: tuple[str, ...], sessions_dir: str,
           symbols: str, seed: int, start_px: str | None, rate: float, session_steps: int, file_log: bool,
           log_level: str | None, log_format: str) -> None:
    """A simulated market-data feed (FIX acceptor): snapshots (W) and incremental updates
    (X) of a seeded random market, to MarketDataRequests (V)."""
    from oms.sim.market import MarketSimOptions, run_market

    start_logging(log_level, log_format)
    options = MarketSimOptions(
        sessions_dir=Path(sessions_dir), port=port, sender_comp_id=sender_comp_id,
        target_comp_ids=list(target_comp_ids), symbols=_comma_list(symbols), seed=seed,
        start_px=Decimal(start_px) if start_px else None, rate=rate, session_steps=session_steps, file_log=file_log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(json.dumps(run_market(options, stop)))
