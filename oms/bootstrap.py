"""Builds and wires the server: database, journal, core, FIX engines, admin interface.

``OmsServer(config).start()`` first locks the sessions directory (one server per directory,
oms/statelock.py), then applies migrations, reloads open orders from the blotter,
starts the journal's WAL checkpointer and the core thread, then the FIX acceptor (upstream clients) and
initiator (brokers), and the loopback admin interface. ``stop()`` undoes it in reverse order.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import quickfix as fix

from oms.admin import AdminServer
from oms.app.commands import RecoverOutbox
from oms.app.core import Core, CoreSettings
from oms.app.events import OrderDenied, OrderRejected
from oms.app.ports import DropCopySource, Journal, QuoteBook, Route, Sender
from oms.app.positions import PositionFeed
from oms.app.records import PositionRecord
from oms.config import (
    BrokerSession,
    DropCopySession,
    MarketDataSession,
    OmsConfig,
    UpstreamSession,
)
from oms.domain.errors import ConfigError
from oms.fix.app import BROKER, DROP_COPY, MARKET_DATA, UPSTREAM, OmsApplication
from oms.fix.encode import FixEncoder
from oms.fix.engine import Engine
from oms.fix.marketdata import FixMarketDataFeed
from oms.fix.outbox import plan as outbox_plan
from oms.fix.outbox import store_prefix, stored_bodies
from oms.fix.settings import FIX44, SessionSpec, engine_defaults, merged, session_key, yn
from oms.fix.watch import BrokerAddress, ConnectWatch
from oms.gc_policy import IdleCollector, gc_pauses_ns
from oms.logs import log_refusals
from oms.marketdata.book import MarketDataBook, read_closes_file
from oms.marketdata.replay import ReplayFileError, load_ticks, replay
from oms.marketdata.writer import MarketDataWriter
from oms.metrics import OrderMetrics, ServerMetrics
from oms.percentiles import percentiles
from oms.portfolio.keeper import FeeSchedule, PositionKeeper
from oms.portfolio.views import NO_MARK, Mark, mark_of
from oms.portfolio.views import row_json as position_row_json
from oms.risk.checks import FieldChecks
from oms.routing.health import SessionStates
from oms.routing.router import ConfigRouter
from oms.routing.rules import Rule
from oms.statelock import StateLock
from oms.store import positions as position_store
from oms.store import repository
from oms.store.bars import BarTable
from oms.store.db import make_engine, unreachable, upgrade
from oms.store.journal import JournalWriter

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SaEngine

log = logging.getLogger(__name__)

# what an operator can do to a running session (``oms sessions ACTION NAME``)
SESSION_ACTIONS = ("logout", "logon", "reset-seq")


def core_settings(config: OmsConfig) -> CoreSettings:
    return CoreSettings(
        send_pending_new=config.oms.send_pending_new,
        max_batch=config.oms.max_batch,
        reset_sessions=frozenset(
            [session_key(u.sender_comp_id, u.target_comp_id)
             for u in config.upstream if u.reset_on_logon]
            + [session.key for _, session in config.broker_sessions() if session.reset_on_logon]
            + [copy.key for copy in config.drop_copies if copy.reset_on_logon]
        ),
        status_query_batch=config.oms.status_query_batch,
        status_query_interval=config.oms.status_query_interval,
        drop_copies=drop_copy_sources(config),
    )


def drop_copy_sources(config: OmsConfig) -> tuple[DropCopySource, ...]:
    """#19: each drop-copy session with its broker's order sessions, for the matcher."""
    return tuple(
        DropCopySource(copy.key, copy.name, copy.broker,
                       tuple(session.key for session in config.broker(copy.broker).sessions),
                       copy.grace_seconds)
        for copy in config.drop_copies)


def routes(config: OmsConfig) -> dict[str, Route]:
    """Broker name -> its route on its primary session, with all its sessions in order."""
    return {
        broker.name: Route(broker.name, broker.primary.key, broker.account,
                           tuple(session.key for session in broker.sessions),
                           broker.cancel_via_backup, broker.hold_seconds)
        for broker in config.brokers
    }


def new_core(settings: CoreSettings, journal: Journal, sender: Sender, *,
             routes: dict[str, Route], destinations: dict[str, str] | None = None,
             default_route: str = "", rules: Sequence[Rule] = (), symbols: frozenset[str] = frozenset(),
             max_digits: int = 15, up: Iterable[str] = (), **kwargs: Any) -> Core:
    """A core wired to today's implementations of its ports: the FIX encoder, the field
    checks as risk gate, the config router, session health fed by logons (``up``: the
    sessions to count as logged on from the start, for tools and tests). Without ``quotes``
    the core reads a market data book nothing feeds (#20): orders get no arrival quote."""
    health = SessionStates(up)
    kwargs.setdefault("quotes", MarketDataBook())
    return Core(settings, journal, sender, encoder=FixEncoder(),
                risk=FieldChecks(max_digits=max_digits, symbols=symbols),
                router=ConfigRouter(routes, health, destinations=destinations,
                                    default_route=default_route, rules=rules),
                health=health, **kwargs)


def configured_core(config: OmsConfig, journal: Journal, sender: Sender,
                    quotes: QuoteBook | None = None,
                    positions: PositionKeeper | None = None) -> Core:
    """The server's core: ``new_core`` with the config's routes, routing rules and checks,
    reading arrival quotes from ``quotes`` (the server's market data book), its fills kept
    by ``positions`` (#21)."""
    core = new_core(core_settings(config), journal, sender, routes=routes(config),
                    quotes=quotes if quotes is not None else MarketDataBook(),
                    destinations=dict(config.routing.destinations),
                    rules=[rule.rule() for rule in config.routing.rules],
                    default_route=config.routing.default_route,
                    symbols=frozenset(config.oms.symbols), max_digits=config.oms.max_digits)
    # #18: every refused order is a log line with its reason and ids
    core.subscribe(log_refusals, OrderDenied, OrderRejected)
    if positions is not None:
        PositionFeed(core, positions)
    return core


# --- positions (#21) ---------------------------------------------------------------------
def new_keeper(config: OmsConfig) -> PositionKeeper:
    """A keeper with the config's default account and the brokers' commission schedules."""
    schedules = {broker.name: FeeSchedule(broker.commission.per_share, broker.commission.bps,
                                          broker.commission.minimum)
                 for broker in config.brokers  # a broker that charges nothing has none
                 if broker.commission.per_share or broker.commission.bps
                 or broker.commission.minimum}
    return PositionKeeper(default_account=config.positions.default_account,
                          schedules=schedules)


def rebuilt_keeper(config: OmsConfig, db: SaEngine) -> tuple[PositionKeeper, list[str]]:
    """A keeper folded from the latest day's start loaded (on or before today, UTC) and
    the fills, busts and corrections stored since; what could not be applied, in words."""
    now = datetime.now(UTC)
    keeper = new_keeper(config)
    start = position_store.load_start(db, now.date())
    keeper.start(start, now)
    since = position_store.day_start(start.trade_date) if start.trade_date else None
    problems = keeper.replay(position_store.load_booked(db, since), now)
    return keeper, problems


_COMPARED = ("qty", "cost", "realized_pnl", "fees", "cash_flow", "start_qty", "start_cost",
             "trades")


def position_differences(kept: Iterable[PositionRecord],
                         stored: Iterable[PositionRecord]) -> list[str]:
    """Where two sets of position rows differ, in words (``oms positions verify``)."""
    ours = {(r.account, r.symbol): r for r in kept}
    theirs = {(r.account, r.symbol): r for r in stored}
    differences: list[str] = []
    for key in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(key), theirs.get(key)
        name = f"{key[0]} {key[1]}"
        if a is None:
            differences.append(f"{name}: stored, but no fill makes it")
        elif b is None:
            differences.append(f"{name}: the fills make it, but it is not stored")
        else:
            for column in _COMPARED:
                if getattr(a, column) != getattr(b, column):
                    differences.append(f"{name}: {column} rebuilt {getattr(a, column)}, "
                                       f"stored {getattr(b, column)}")
    return differences


def fix_defaults(config: OmsConfig) -> dict[str, str]:
    """The QuickFIX [DEFAULT] settings of this config (the OMS and the bench relay share it):
    those the OMS makes of its [fix] options, then [fix.settings] as given."""
    fix_cfg = config.fix
    dictionary = config.data_dictionary_path()
    if dictionary is not None and not dictionary.is_file():
        raise ConfigError(f"[fix] data_dictionary: no such file: {dictionary}")
    return merged(engine_defaults(
        config.sessions_path,
        heartbeat_interval=fix_cfg.heartbeat_interval,
        socket_nodelay=fix_cfg.socket_nodelay,
        file_log=fix_cfg.file_log,
        data_dictionary=dictionary,
        start_time=fix_cfg.start_time,
        end_time=fix_cfg.end_time,
        check_latency=fix_cfg.check_latency,
        max_latency=fix_cfg.max_latency,
        persist_messages=fix_cfg.persist_messages,
        validate_user_defined_fields=fix_cfg.validate_user_defined_fields,
    ), fix_cfg.settings)


def acceptor_spec(session: UpstreamSession | DropCopySession, **more: str) -> SessionSpec:
    """A session we accept: the settings the OMS makes of its options (``more`` too), then
    its own ``settings`` as given."""
    return SessionSpec(session.sender_comp_id, session.target_comp_id, merged({
        "SocketAcceptPort": str(session.port),
        "ResetOnLogon": yn(session.reset_on_logon),
        **more,
    }, session.settings))


def initiator_spec(session: BrokerSession | DropCopySession | MarketDataSession
                   ) -> SessionSpec:
    """A session we connect: the settings the OMS makes of its options, then its own
    ``settings`` as given."""
    return SessionSpec(session.sender_comp_id, session.target_comp_id, merged({
        "SocketConnectHost": session.host,
        "SocketConnectPort": str(session.port),
        "ReconnectInterval": str(session.reconnect_interval),
        "ResetOnLogon": yn(session.reset_on_logon),
    }, session.settings))


def session_specs(config: OmsConfig) -> tuple[list[SessionSpec], list[SessionSpec]]:
    """(acceptor sessions for upstream clients, initiator sessions for brokers)."""
    upstream = [acceptor_spec(u, UseDataDictionary=yn(u.use_data_dictionary))
                for u in config.upstream]
    return upstream, [initiator_spec(b) for _, b in config.broker_sessions()]


def drop_copy_specs(config: OmsConfig) -> tuple[list[SessionSpec], list[SessionSpec]]:
    """#19: (drop-copy sessions the broker connects to, those we connect to): each joins
    the acceptor or the initiator engine beside the upstream or broker sessions."""
    return ([acceptor_spec(c) for c in config.drop_copies if c.role == "acceptor"],
            [initiator_spec(c) for c in config.drop_copies if c.role == "initiator"])


def marketdata_specs(config: OmsConfig) -> list[SessionSpec]:
    """#20: the market-data sessions, initiators of an engine of their own."""
    return [initiator_spec(m) for m in config.marketdata_sessions]


class OmsServer:
    """The running OMS."""

    def __init__(self, config: OmsConfig, database_url: str | None = None,
                 on_ready: Callable[[OmsServer], None] | None = None) -> None:
        self.config = config
        self.database_url = config.database_url(database_url)
        self.on_ready = on_ready
        self.db: SaEngine | None = None
        self.journal: JournalWriter | None = None
        self.core: Core | None = None
        self.application: OmsApplication | None = None
        self.acceptor: Engine | None = None
        self.initiator: Engine | None = None
        self.md_initiator: Engine | None = None  # #20: the market-data sessions
        self.admin: AdminServer | None = None
        # the garbage-collector policy, when this process runs one (``oms serve``)
        self.collector: IdleCollector | None = None
        # what /metrics says: the order counters (a subscriber of the core's events) and
        # what is read at each scrape; a registry of this server's own
        self.order_metrics = OrderMetrics()
        self.metrics = ServerMetrics(self, self.order_metrics)
        self.addresses: dict[str, str] = {}  # session key -> host:port, for ``oms sessions``
        self.lock = StateLock(config.sessions_path)
        # says why a broker session cannot connect (QuickFIX's onLogout never does)
        self.watch: ConnectWatch | None = None
        # #20: the market data book the core reads (the market-data sessions and the replay
        # feed it, on their own threads), its writer thread, the replay at start
        self.book: MarketDataBook | None = None
        self.md_writer: MarketDataWriter | None = None
        self._replay: threading.Thread | None = None
        self._replay_stop = threading.Event()
        self.market_data_feeds: dict[str, FixMarketDataFeed] = {}
        self.keeper: PositionKeeper | None = None  # #21

    def start(self) -> None:
        """Raises ``StateDirectoryInUse``, having touched nothing, when another server holds
        the sessions directory."""
        config = self.config
        sessions_dir = config.sessions_path
        # #18: before anything in the directory (the admin token, QuickFIX's settings and
        # stores) or the database is written
        self.lock.acquire()
        db = self.db = make_engine(self.database_url)
        upgrade(db)
        self.journal = JournalWriter(db)
        upstream_specs, broker_specs = session_specs(config)
        copy_acceptors, copy_initiators = drop_copy_specs(config)
        roles = {spec.key: UPSTREAM for spec in upstream_specs}
        roles.update({spec.key: BROKER for spec in broker_specs})
        roles.update({spec.key: DROP_COPY for spec in copy_acceptors + copy_initiators})
        md_specs = marketdata_specs(config)
        roles.update({spec.key: MARKET_DATA for spec in md_specs})
        book = self.book = self._market_data(db)
        keeper = self.keeper = self._positions(db) if config.positions.enabled else None
        core = configured_core(config, self.journal, _LateSender(), quotes=book,
                               positions=keeper)
        self.core = core
        self.order_metrics.subscribe_to(core)
        open_orders = repository.load_open_orders(db)
        since = datetime.now(UTC) - timedelta(days=1)
        seen = repository.load_seen_broker_exec_ids(db, since)
        cl_ord_ids = {
            spec.key: repository.load_session_cl_ord_ids(db, spec.key, since)
            for spec in upstream_specs
        }
        core.load(open_orders, seen, cl_ord_ids)
        log.info("reloaded %d open orders from the blotter", len(open_orders))
        if config.drop_copies:
            # #19: the day's fills, copies and breaks, so the matcher goes on where it was
            copied = {copy.broker for copy in config.drop_copies}
            fills, copies, found = repository.load_drop_copy_day(
                db, [s.key for b, s in config.broker_sessions() if b.name in copied],
                [copy.key for copy in config.drop_copies], since)
            core.load_drop_copies(fills, copies, found)
            log.info("drop copies: reloaded %d fills, %d copies, %d breaks of the last day",
                     len(fills), len(copies), len(found))
        outbox_committed, outbox_sent = repository.load_outbox_marks(db)
        core.load_outbox(outbox_committed, outbox_sent)
        application = self.application = OmsApplication(roles, core.submit)
        core.sender = application
        for md in config.marketdata_sessions:
            feed = self.market_data_feeds[md.key] = FixMarketDataFeed(
                md.name, book, md.symbols)
            application.add_market_data(md.key, feed, every_symbol=not md.symbols)
        application.saw_symbols(sorted({order.symbol for order in open_orders}))
        self.journal.start()
        defaults = fix_defaults(config)
        accepted = upstream_specs + copy_acceptors
        initiated = broker_specs + copy_initiators
        self.addresses = session_addresses(defaults, accepted, initiated + md_specs)
        if accepted:
            self.acceptor = Engine("acceptor", application,
                                   sessions_dir / "acceptor.cfg", defaults, accepted)
        if initiated:
            self.initiator = Engine("initiator", application,
                                    sessions_dir / "initiator.cfg", defaults, initiated)
        if md_specs:
            # #20: an initiator of their own, so its thread applies quotes while the
            # brokers' thread takes executions: a burst of quotes never delays a fill
            self.md_initiator = Engine("initiator", application,
                                       sessions_dir / "marketdata.cfg", defaults, md_specs)
        # sessions whose sequence numbers restart at every logon have nothing to rewind; a
        # drop copy's reports are committed like any inbound message, and rewound alike
        rewind_inbound(repository.load_inbound_seqs(db),
                       [s for s in accepted + initiated
                        if s.settings.get("ResetOnLogon") != "Y"])
        # before any session can log on: what was committed and never sent goes first
        core.process(recover_outbox(
            db, application, upstream_specs + broker_specs, Path(defaults["FileStorePath"]),
            persisted=config.fix.persist_messages, committed=outbox_committed,
            sent=outbox_sent))
        core.start()
        for engine in (self.acceptor, self.initiator, self.md_initiator):
            if engine is not None:
                engine.start()
        if config.brokers:
            self.watch = ConnectWatch(application, [
                BrokerAddress(session.name, session.key, session.host, session.port,
                              session.reconnect_interval)
                for _, session in config.broker_sessions()]).start()
        self._start_replay(book)
        self.admin = AdminServer(self, config.admin.host, config.admin.port,
                                 config.admin_token_path)
        self.admin.start()
        if self.on_ready is not None:
            self.on_ready(self)

    def stop(self) -> None:
        """Stop taking messages, finish the core's work, commit it, close everything."""
        if self.watch is not None:
            self.watch.stop()
            self.watch = None
        if self.admin is not None:
            self.admin.stop()
            self.admin = None
        received: dict[str, int] = {}
        if self.md_initiator is not None:
            self.md_initiator.stop()
        for engine in (self.acceptor, self.initiator):
            if engine is not None:
                engine.stop()
                received.update(engine.last_inbound_seqs())
        self.acceptor = self.initiator = self.md_initiator = None
        self._stop_market_data()
        drained = self.core.stop() if self.core is not None else False
        if drained and received and self.journal is not None:
            # A clean stop: the engines are stopped and every message they received is
            # committed, so the last one each store counts (heartbeats and logouts too,
            # which the blotter never records) is the one to expect after next; without
            # this every restart asked for a resend of admin messages (rewind_inbound).
            # After a crash this never runs, and the rewind does its work.
            try:
                self.journal.write_inbound_seqs(received)
            except Exception as exc:  # noqa: BLE001 - stopping anyway; the rewind covers it
                log.warning("could not record the sessions' last sequence numbers (%s); "
                            "the next start asks the counterparties for a resend", exc)
        if self.journal is not None:
            self.journal.stop()
            self.journal = None
        if self.db is not None:
            self.db.dispose()
            self.db = None
        self.lock.release()

    # --- positions (#21) ---------------------------------------------------------------------
    def _positions(self, db: SaEngine) -> PositionKeeper:
        """The keeper rebuilt from the day's start and the fills stored since; the stored
        rows replaced by it (they differ only after a new day's start was loaded, or by a
        bug: both are logged)."""
        keeper, problems = rebuilt_keeper(self.config, db)
        for problem in problems:
            log.error("positions: %s", problem)
        rows = keeper.rows()
        differences = position_differences(rows, position_store.load_positions(db))
        for difference in differences[:20]:
            log.warning("positions: %s (the fills win)", difference)
        position_store.replace_positions(db, rows)
        log.info("positions: %d rows from %s", len(rows),
                 f"the start of {keeper.trade_date}" if keeper.trade_date else "all fills")
        return keeper

    def positions(self, symbols: Sequence[str] = ()) -> dict[str, object]:
        """The keeper's rows, each account's start cash and the mark of each symbol held
        (and of ``symbols``) from the market data book: GET /positions (the CLI makes the
        figures, as it does from the database)."""
        keeper = self.keeper
        if keeper is None:
            return {"enabled": False, "rows": [], "start_cash": {}, "marks": {}}
        rows = keeper.rows()
        marks = {symbol: self._mark(symbol)
                 for symbol in sorted({r.symbol for r in rows} | set(symbols))}
        return {"enabled": True, "trade_date": keeper.trade_date,
                "rows": [position_row_json(r) for r in rows],
                "start_cash": {a: _text(c) for a, c in keeper.start_cash().items()},
                "marks": {s: {"price": _text(m.price), "source": m.source, "stale": m.stale}
                          for s, m in marks.items()}}

    def _mark(self, symbol: str) -> Mark:
        book = self.book
        if book is None:
            return NO_MARK
        quote, last = book.quote(symbol), book.last_trade(symbol)
        return mark_of(last.px if last else None, quote.mid if quote else None,
                       book.previous_close(symbol), not book.is_stale(symbol, datetime.now(UTC)))

    # --- market data (#20) ------------------------------------------------------------------
    def _market_data(self, db: SaEngine) -> MarketDataBook:
        """The book, its writer thread (bars to ``market_bars``, ticks to files) and the
        previous closes. A bad closes or replay file stops the start with its reason."""
        md = self.config.marketdata
        closes = {}
        if md.previous_close_file:
            try:
                closes = read_closes_file(str(self.config.resolve(md.previous_close_file)))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"[marketdata] previous_close_file: {exc}") from exc
        tick_dir = self.config.resolve(md.tick_file_dir) if md.tick_file_dir else None
        bars = BarTable(db)
        self.md_writer = MarketDataWriter(bars, tick_dir).start()
        return MarketDataBook(stale_after=md.stale_after, sink=self.md_writer,
                              previous_closes=closes, stored_closes=bars.close_before,
                              record_ticks=tick_dir is not None,
                              symbols=frozenset(md.symbols))

    def _start_replay(self, book: MarketDataBook) -> None:
        md = self.config.marketdata
        if not md.replay_file:
            return
        try:
            ticks = load_ticks(self.config.resolve(md.replay_file))
        except ReplayFileError as exc:
            raise ConfigError(f"[marketdata] replay_file: {exc}") from exc

        def run() -> None:
            counts = replay(ticks, book, md.replay_speed, stopped=self._replay_stop.is_set)
            log.info("market data replay done: %d quotes, %d trades", counts.quotes,
                     counts.trades)

        self._replay_stop.clear()
        self._replay = threading.Thread(target=run, name="oms-marketdata-replay", daemon=True)
        self._replay.start()

    def _stop_market_data(self) -> None:
        """Stop the replay, hand the open bars to the writer, write what it holds."""
        self._replay_stop.set()
        if self._replay is not None:
            self._replay.join(5.0)
            self._replay = None
        if self.book is not None and self.md_writer is not None:
            self.book.flush()
        if self.md_writer is not None:
            self.md_writer.stop()
            self.md_writer = None

    def quotes(self, symbols: Sequence[str] = ()) -> list[dict[str, object]]:
        """The book's view of each symbol (all it has seen, or ``symbols``): GET /quotes."""
        book = self.book
        if book is None:
            return []
        now = datetime.now(UTC)
        rows: list[dict[str, object]] = []
        for symbol in symbols or book.symbols_seen():
            quote, last = book.quote(symbol), book.last_trade(symbol)
            vwap = book.day_vwap(symbol)
            rows.append({
                "symbol": symbol,
                "bid": _text(quote.bid if quote else None),
                "bid_size": _text(quote.bid_size if quote else None),
                "ask": _text(quote.ask if quote else None),
                "ask_size": _text(quote.ask_size if quote else None),
                "mid": _text(quote.mid if quote else None),
                "quote_ts": quote.ts.isoformat() if quote else None,
                "age_seconds": (now - quote.ts).total_seconds() if quote else None,
                "stale": book.is_stale(symbol, now),
                "last": _text(last.px if last else None),
                "last_qty": _text(last.qty if last else None),
                "volume": _text(book.day_volume(symbol)),
                "vwap": _text(vwap),
                "bars": len(book.bars(symbol)),
            })
        return rows

    def stats(self) -> dict[str, object]:
        """Counters and the OMS-internal latency (upstream NewOrderSingle received -> child
        order sent to the broker, after its group commit), in microseconds."""
        core, journal = self.core, self.journal
        if core is None or journal is None:
            return {}
        internal = self.application.internal_latency_ns if self.application else []
        return {
            "orders": core.stats.orders,
            "commands": core.stats.commands,
            "batches": core.stats.batches,
            "commits": journal.commits,
            "rows_written": journal.rows_written,
            "commit_cpu_s": round(journal.commit_cpu_s, 6),
            # this process's CPU (user + system) since it started: over a run of your own
            # client, (difference) / (difference of "orders") is the OMS's CPU per order
            "process_cpu_s": round(sum(os.times()[:2]), 3),
            "core_queue": core.queue.qsize(),
            "internal_latency_us": percentiles(internal, scale=1e-3),
            # where the internal latency goes: waiting for the core, a whole batch (its
            # processing, commit and, when small, sends), the commit alone, sending a
            # committed batch
            "queue_wait_us": percentiles(core.stats.queue_wait_ns, scale=1e-3),
            "batch_us": percentiles(core.stats.batch_ns, scale=1e-3),
            "commit_us": percentiles(journal.commit_durations, scale=1e6),
            "send_us": percentiles(core.stats.send_ns, scale=1e-3),
            # a NewOrderSingle's pre-trade checks (fields, duplicate ClOrdID, route)
            "checks_us": percentiles(core.stats.checks_ns, scale=1e-3),
            # the garbage collector's pauses (a stall of every thread; oms.gc_policy)
            "gc_pause_us": percentiles(gc_pauses_ns, scale=1e-3),
            **self._collector_counters(),
            "market_data": self._market_data_counters(),
        }

    def _market_data_counters(self) -> dict[str, int]:
        """#20: what the market data book has taken (quotes and trades: the updates
        through the port), bars closed, and W/X messages the FIX feeds applied."""
        book = self.book
        if book is None:
            return {}
        return {"quotes": book.stats.quotes, "trades": book.stats.trades,
                "bars_closed": book.stats.bars_closed,
                "fix_messages": sum(f.messages for f in self.market_data_feeds.values()),
                "resubscriptions": sum(f.resubscriptions
                                       for f in self.market_data_feeds.values())}

    def _collector_counters(self) -> dict[str, int]:
        collector = self.collector
        if collector is None:
            return {}
        return {"gc_idle_collections": collector.idle_collections,
                "gc_deep_collections": collector.deep_collections,
                "gc_freezes_under_load": collector.freezes_under_load}

    def work_done(self) -> int:
        """A counter that moves while the core works (commands applied): idle when it stops."""
        return self.core.stats.commands if self.core is not None else 0

    def reset_stats(self) -> None:
        if self.application is not None:
            self.application.internal_latency_ns.clear()
        if self.core is not None:
            self.core.stats.reset_samples()
        if self.journal is not None:
            self.journal.commit_durations.clear()
        gc_pauses_ns.clear()

    def session_states(self) -> list[dict[str, object]]:
        """Each FIX session: its role, address (where an acceptor listens, where an
        initiator connects), whether it is logged on, its next sequence numbers as the
        engine's store has them, when it last received a message and the last error a
        counterparty told it of."""
        app = self.application
        if app is None:
            return []
        states: list[dict[str, object]] = []
        names = {key: name for name, key in self.session_names().items()
                 if name != key and name != key.removeprefix(f"{FIX44}:")}
        brokers = {session.key: broker.name for broker, session in self.config.broker_sessions()}
        brokers.update({copy.key: copy.broker for copy in self.config.drop_copies})
        for key, role in app.roles.items():
            numbers = app.sequence_numbers(key)
            received = app.last_received.get(key)
            logged_on = app.is_logged_on(key)
            states.append({
                "session": key, "name": names.get(key, ""), "role": role,
                "broker": brokers.get(key), "address": self.addresses.get(key, ""),
                "logged_on": logged_on,
                "state": ("TestRequest unanswered" if key in app.unanswered else
                          "logged on" if logged_on else "logged out"),
                "test_requests_sent": app.test_requests_sent.get(key, 0),
                "next_sender_seq_num": numbers[0] if numbers else None,
                "next_target_seq_num": numbers[1] if numbers else None,
                "last_received": datetime.fromtimestamp(received, UTC).isoformat()
                if received is not None else None,
                "last_error": app.last_error.get(key),
            })
        return states

    def session_names(self) -> dict[str, str]:
        """Every name an operator may give a session -> its key: the key itself, the key
        without "FIX.4.4:", a broker session's name, an upstream client's CompID."""
        config = self.config
        names: dict[str, str] = {}
        for upstream in config.upstream:
            key = session_key(upstream.sender_comp_id, upstream.target_comp_id)
            names[upstream.target_comp_id] = key
        for _, session in config.broker_sessions():
            names[session.name] = session.key
        for copy in config.drop_copies:
            names[copy.name] = copy.key
        for md in config.marketdata_sessions:
            names[md.name] = md.key
        for key in list(names.values()):
            names[key] = key
            names[key.removeprefix(f"{FIX44}:")] = key
        return names

    def session_action(self, name: str, action: str) -> tuple[int, dict[str, object]]:
        """``logout``: log the session out and keep it out (an initiator stops
        reconnecting, an acceptor refuses logons) until ``logon``; ``reset-seq``: log it
        out, then log on again with ResetSeqNumFlag (141=Y), both sides starting at 1."""
        key = self.session_names().get(name)
        app = self.application
        if key is None:
            return 404, {"ok": False, "error": f"no session {name!r}: give its name in the "
                                               "config or its key (oms sessions lists them)"}
        if action not in SESSION_ACTIONS:
            return 404, {"ok": False, "error": f"no session action {action!r}: use one of "
                                               f"{', '.join(SESSION_ACTIONS)}"}
        session_id = app.session_ids.get(key) if app is not None else None
        session = fix.Session.lookupSession(session_id) if session_id is not None else None
        if app is None or session is None:
            return 503, {"ok": False, "error": f"session {key} is not running"}
        if action == "logout":
            session.logout("logged out by the operator")
        elif action == "logon":
            session.logon()
        else:
            app.reset_at_next_logon(key, session)
        log.info("operator: %s on FIX session %s", action, key, extra={"session": key})
        return 200, {"ok": True, "session": key, "action": action}

    def liveness(self) -> dict[str, object]:
        """Whether the process serves: the core thread is running."""
        core = self.core
        alive = core is not None and core.alive()
        return {"ok": alive, "core": "running" if alive else "not running"}

    def readiness(self) -> dict[str, object]:
        """Whether the server can take orders: the database answers, the journal's last
        commit did not fail, every upstream session is logged on and each broker has one
        session logged on (drop copies are not waited for). ``not_ready`` says
        what is missing, in words."""
        missing: list[str] = []
        db, journal = self.db, self.journal
        if db is None or journal is None or self.core is None or not self.core.alive():
            missing.append("the server is not running")
        else:
            problem = unreachable(db)
            if problem is not None:
                missing.append(f"database unreachable: {problem}")
            elif journal.failing:
                missing.append(f"the journal's last commit failed: {journal.last_error}")
        sessions = self.session_states()
        # #19: a drop copy only watches; an order can be taken without it
        missing += [f"session {s['session']} ({s['role']}) is not logged on"
                    for s in sessions if not s["logged_on"] and s["role"] == UPSTREAM]
        # #19: a broker is ready when one of its sessions is (the others are its backups)
        for broker in self.config.brokers:
            keys = {session.key for session in broker.sessions}
            if not any(s["logged_on"] for s in sessions if s["session"] in keys):
                missing.append(f"broker {broker.name}: no session logged on "
                               f"({', '.join(sorted(keys))})")
        return {"ok": not missing, "not_ready": missing,
                "sessions": {s["session"]: bool(s["logged_on"]) for s in sessions}}


def _text(value: Decimal | None) -> str | None:
    """A price or size as exact text for JSON (never a float)."""
    return None if value is None else format(value, "f")


def session_addresses(defaults: dict[str, str], upstream: list[SessionSpec],
                      brokers: list[SessionSpec]) -> dict[str, str]:
    """Session key -> host:port: where an acceptor listens (every interface unless
    SocketAcceptHost says otherwise), where an initiator connects."""
    addresses = {}
    for spec in upstream:
        settings = {**defaults, **spec.settings}
        addresses[spec.key] = (f"{settings.get('SocketAcceptHost', '0.0.0.0')}:"
                               f"{settings.get('SocketAcceptPort', '')}")
    for spec in brokers:
        settings = {**defaults, **spec.settings}
        addresses[spec.key] = (f"{settings.get('SocketConnectHost', '')}:"
                               f"{settings.get('SocketConnectPort', '')}")
    return addresses


def recover_outbox(db: SaEngine, application: OmsApplication, specs: list[SessionSpec],
                   store_dir: Path, *, persisted: bool, committed: dict[str, int],
                   sent: dict[str, int]) -> list[RecoverOutbox]:
    """#16: find the outbound messages committed before the last stop and never handed to
    the FIX engine, hand those of sessions that keep their sequence numbers to it now, and
    say what was done (and what waits for a logon) to the core (oms/fix/outbox.py)."""
    specs_by_key = {spec.key: spec for spec in specs}
    # only this process's sessions: another process sharing the database owns the others
    found = repository.load_outbound_since(
        db, sent, {name: last for name, last in committed.items() if name in specs_by_key})
    commands = []
    for session, candidates in found.items():
        spec = specs_by_key[session]
        if not candidates:
            continue
        restarts = spec.settings.get("ResetOnLogon") == "Y" or not persisted
        stored = stored_bodies(store_prefix(store_dir, session), 2 * len(candidates) + 64) \
            if persisted else set()
        plan = outbox_plan(session, sent.get(session, 0), candidates, stored, restarts)
        if plan.send_now:
            application.send(plan.send_now)
        log.warning("%s: %s", session, plan.note)
        commands.append(RecoverOutbox(session, 0 if restarts else plan.last, plan.hold,
                                      plan.note))
    return commands


def rewind_inbound(committed: dict[str, int], specs: list[SessionSpec]) -> None:
    """Expect the message after the last one whose effects were committed.

    quickfix counts a message as received when our callback returns, before the core has
    committed it; after a crash the blotter can be behind the message store. Lowering the
    expected MsgSeqNum makes the engine send a ResendRequest at logon, so the counterparty
    resends what was lost (resent fills are deduplicated by ExecID, resent orders by
    ClOrdID). Only ever lowers it: a store that is behind the blotter was reset on purpose.
    """
    for spec in specs:
        last = committed.get(spec.key)
        if last is None:
            continue
        session = fix.Session.lookupSession(
            fix.SessionID(FIX44, spec.sender_comp_id, spec.target_comp_id))
        if session is None:
            continue
        expected = session.getExpectedTargetNum()
        if expected > last + 1:
            log.warning("%s: message store expects MsgSeqNum %d but the blotter committed up "
                        "to %d; asking for a resend from %d", spec.key, expected, last, last + 1)
            session.setNextTargetMsgSeqNum(last + 1)


class _LateSender:
    """Stands in until the FIX application exists (nothing is sent before start)."""

    def send(self, messages: list) -> None:  # pragma: no cover - never called
        raise RuntimeError("FIX engine not started")

