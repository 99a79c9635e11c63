"""The Prometheus metrics of a running server: what the admin interface's ``/metrics`` says.

Two sources. The order counters (orders reaching each status, rejects by reason, fills and
their quantity, the broker's acknowledgement latency) come from the core's order events:
``OrderMetrics`` subscribes to them (``oms.bootstrap``) and keeps plain numbers, written on
the core thread only, so the order path takes no lock and makes no call into
prometheus_client. Everything else is read when Prometheus scrapes: the core's and the
journal's counters and latency samples, each FIX session's state and sequence numbers (the
server's ``session_states``), the depth of the core's queue.

The histograms are cumulative, as Prometheus expects. For the ones read from a deque of
samples (NewOrderSingle -> child order, commit time, commit size), each scrape adds to the
buckets the samples taken since the last scrape, as the counter beside the deque counts
them; samples the bounded deque dropped between two scrapes (or ``oms stats --reset``
cleared) are missing from the buckets, and a sample taken during a scrape may be counted in
the next one in place of its neighbour.

Each server has its own ``CollectorRegistry``, not prometheus_client's global one, so
several servers (tests) can live in one process. This module imports neither quickfix nor
SQLAlchemy: what it needs of them comes through the server.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from oms.app.events import (
    EVENT_KINDS,
    OrderAccepted,
    OrderAcknowledged,
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderStatusChanged,
)
from oms.domain.enums import OrdRejReason, OrdStatus

if TYPE_CHECKING:
    from oms.app.core import Core
    from oms.bootstrap import OmsServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# seconds: from a tenth of a millisecond (the core's own work) to ten seconds (a broker
# that is slow to answer)
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# rows per group commit: one order is a few rows; a busy batch is hundreds of orders
ROWS_BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

_REJECT_NAMES = {reason._value_: reason._name_ for reason in OrdRejReason}


class Buckets:
    """A cumulative histogram's buckets and sum, kept as plain numbers by one writer."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal to": bisect_left finds the first bound
        # that is not below the value
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        counts = list(self.counts)  # one copy: the writer may go on meanwhile
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, counts, strict=False):
            running += count
            buckets.append((_bound_text(bound), running))
        buckets.append(("+Inf", running + counts[-1]))
        return HistogramMetricFamily(name, documentation, buckets=buckets,
                                     sum_value=self.sum)


def _bound_text(bound: float) -> str:
    return str(float(bound))


class SampleFeed:
    """Adds to ``buckets`` the samples of a deque taken since the last ``update``; ``count``
    says how many were ever taken (see the module doc for what it can miss)."""

    def __init__(self, buckets: Buckets, samples: Callable[[], Iterable[float] | None],
                 count: Callable[[], int], scale: float = 1.0) -> None:
        self.buckets = buckets
        self.samples = samples
        self.count = count
        self.scale = scale
        self.seen = count()

    def update(self) -> None:
        total = self.count()
        new, self.seen = total - self.seen, total
        samples = self.samples()
        if new <= 0 or samples is None:
            return
        try:
            # the newest ``new`` samples, copied in one go (no Python code runs meanwhile,
            # so the writer cannot change the deque under the copy)
            recent = list(islice(reversed(samples), new))  # type: ignore[call-overload]
        except RuntimeError:  # the deque changed under us after all: next scrape
            return
        observe, scale = self.buckets.observe, self.scale
        for sample in recent:
            observe(sample * scale)


class OrderMetrics:
    """The core's subscriber for the order counters; runs on the core thread."""

    def __init__(self, clock_ns: Callable[[], int] = time.perf_counter_ns) -> None:
        self.clock_ns = clock_ns
        self.reached: dict[OrdStatus, int] = dict.fromkeys(OrdStatus, 0)
        self.rejects: dict[tuple[str, str], int] = {}  # (by whom, OrdRejReason name) -> count
        self.fills = 0
        self.filled_qty = Decimal(0)
        self.ack_latency = Buckets(LATENCY_BOUNDS)
        # order id -> when the core took it in, until the broker answers it
        self._accepted: dict[str, int] = {}

    def subscribe_to(self, core: Core) -> None:
        # each kind to its own method: the core calls only what the event needs
        handlers: list[tuple[Callable[[Any], None], tuple[type[OrderEvent], ...]]] = [
            (self._on_any, EVENT_KINDS),
            (self._on_accepted, (OrderAccepted,)),
            (self._on_denied, (OrderDenied,)),
            (self._on_acknowledged, (OrderAcknowledged,)),
            (self._on_rejected, (OrderRejected,)),
            (self._on_filled, (OrderFilled,)),
            (self._on_ended, (OrderCanceled, OrderStatusChanged)),
        ]
        for handler, kinds in handlers:
            core.subscribe(handler, *kinds)

    def _on_any(self, event: OrderEvent) -> None:
        status = event.order.status
        if event.trigger is not None and status is not event.before:
            self.reached[status] += 1

    def _on_accepted(self, event: OrderEvent) -> None:
        order = event.order
        self.reached[order.status] += 1  # its first status: no trigger moved it there
        self._accepted[order.order_id] = self.clock_ns()

    def _on_denied(self, event: OrderDenied) -> None:
        self._count_reject("oms", event.code)

    def _on_rejected(self, event: OrderRejected) -> None:
        self._accepted.pop(event.order.order_id, None)
        self._count_reject("broker", event.code)

    def _count_reject(self, by: str, code: str) -> None:
        key = (by, _REJECT_NAMES.get(code, code or "NONE"))
        self.rejects[key] = self.rejects.get(key, 0) + 1

    def _on_acknowledged(self, event: OrderEvent) -> None:
        started = self._accepted.pop(event.order.order_id, None)
        if started is not None:
            self.ack_latency.observe((self.clock_ns() - started) * 1e-9)

    def _on_filled(self, event: OrderFilled) -> None:
        self.fills += 1
        self.filled_qty += event.qty
        self._accepted.pop(event.order.order_id, None)  # filled before any acknowledgement

    def _on_ended(self, event: OrderEvent) -> None:
        self._accepted.pop(event.order.order_id, None)


class ServerMetrics(Collector):
    """The collector of one server: its order counters and what it reads at each scrape."""

    def __init__(self, server: OmsServer, orders: OrderMetrics) -> None:
        self.server = server
        self.orders = orders
        self.internal_latency = Buckets(LATENCY_BOUNDS)
        self.commit_seconds = Buckets(LATENCY_BOUNDS)
        self.commit_rows = Buckets(ROWS_BOUNDS)
        self._feeds = [
            SampleFeed(self.internal_latency, self._internal_samples, self._internal_count,
                       scale=1e-9),
            SampleFeed(self.commit_seconds, self._commit_durations, self._commits),
            SampleFeed(self.commit_rows, self._commit_row_counts, self._commits),
        ]
        self._lock = threading.Lock()  # two scrapes at once must not feed a sample twice
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def render(self) -> bytes:
        """The Prometheus text exposition of this server's metrics."""
        return generate_latest(self.registry)

    # where the samples come from (None before the server has started them)
    def _internal_samples(self) -> Iterable[float] | None:
        application = self.server.application
        return application.internal_latency_ns if application is not None else None

    def _internal_count(self) -> int:
        application = self.server.application
        return application.internal_latency_count if application is not None else 0

    def _commit_durations(self) -> Iterable[float] | None:
        journal = self.server.journal
        return journal.commit_durations if journal is not None else None

    def _commit_row_counts(self) -> Iterable[float] | None:
        journal = self.server.journal
        return journal.commit_rows if journal is not None else None

    def _commits(self) -> int:
        journal = self.server.journal
        return journal.commits if journal is not None else 0

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            for feed in self._feeds:
                feed.update()
            yield from self._order_families()
            yield from self._core_families()
            yield from self._session_families()
            yield from self._market_data_families()

    def _order_families(self) -> Iterator[Metric]:
        orders = self.orders
        reached = CounterMetricFamily(
            "oms_orders_reached", "Orders that reached each OrdStatus (a new order counts "
            "once for its first status, then once for each status it moves to).",
            labels=["status"])
        for status, count in list(orders.reached.items()):
            reached.add_metric([status._name_], count)
        yield reached
        rejects = CounterMetricFamily(
            "oms_rejects", "New orders refused, by whom (oms: before routing, broker: by "
            "the broker) and OrdRejReason.", labels=["by", "reason"])
        for (by, reason), count in sorted(list(orders.rejects.items())):
            rejects.add_metric([by, reason], count)
        yield rejects
        yield CounterMetricFamily("oms_fills", "Fills booked.", value=orders.fills)
        yield CounterMetricFamily("oms_filled_quantity", "Quantity filled, all orders.",
                                  value=float(orders.filled_qty))
        yield orders.ack_latency.family(
            "oms_broker_ack_latency_seconds",
            "From the core taking a new order in to the core applying the broker's "
            "acknowledgement of it (commit, send, the broker, the way back).")

    def _core_families(self) -> Iterator[Metric]:
        core, journal = self.server.core, self.server.journal
        yield CounterMetricFamily("oms_orders_received", "NewOrderSingles the core took in.",
                                  value=core.stats.orders if core is not None else 0)
        yield GaugeMetricFamily("oms_core_queue_depth", "Commands waiting for the core.",
                                value=core.queue.qsize() if core is not None else 0)
        yield CounterMetricFamily("oms_commits", "Group commits of the journal.",
                                  value=self._commits())
        yield CounterMetricFamily("oms_rows_written", "Rows the journal wrote.",
                                  value=journal.rows_written if journal is not None else 0)
        yield self.internal_latency.family(
            "oms_order_to_child_latency_seconds",
            "From an upstream NewOrderSingle received to its child order handed to the "
            "broker's FIX session, after the group commit.")
        yield self.commit_seconds.family("oms_commit_duration_seconds",
                                         "Time of one group commit of the journal.")
        yield self.commit_rows.family("oms_commit_rows", "Rows written by one group commit.")

    def _session_families(self) -> Iterator[Metric]:
        logged_on = GaugeMetricFamily("oms_session_logged_on",
                                      "1 when the FIX session is logged on.",
                                      labels=["session", "role"])
        sender = GaugeMetricFamily("oms_session_next_sender_seq_num",
                                   "The next MsgSeqNum the session will send.",
                                   labels=["session"])
        target = GaugeMetricFamily("oms_session_next_target_seq_num",
                                   "The next MsgSeqNum the session expects.",
                                   labels=["session"])
        for state in self.server.session_states():
            session = str(state["session"])
            logged_on.add_metric([session, str(state["role"])], 1 if state["logged_on"] else 0)
            if state.get("next_sender_seq_num") is not None:
                sender.add_metric([session], _number(state["next_sender_seq_num"]))
                target.add_metric([session], _number(state["next_target_seq_num"]))
        yield logged_on
        yield sender
        yield target


    def _market_data_families(self) -> Iterator[Metric]:
        """#20: the market data book: updates taken by kind, bars closed, symbols whose
        quote is stale now, messages the FIX feeds applied and their resubscriptions."""
        server = self.server
        book = server.book
        if book is None:
            return
        updates = CounterMetricFamily("oms_marketdata_updates",
                                      "Quotes and trades the market data book took.",
                                      labels=["kind"])
        updates.add_metric(["quote"], book.stats.quotes)
        updates.add_metric(["trade"], book.stats.trades)
        yield updates
        yield CounterMetricFamily("oms_marketdata_bars_closed",
                                  "One-minute bars closed and handed to the writer.",
                                  value=book.stats.bars_closed)
        now = datetime.now(UTC)
        yield GaugeMetricFamily("oms_marketdata_stale_symbols",
                                "Symbols whose latest quote is older than stale_after.",
                                value=sum(1 for symbol in book.symbols_seen()
                                          if book.is_stale(symbol, now)))
        feeds = server.market_data_feeds.values()
        messages = CounterMetricFamily("oms_marketdata_fix_messages",
                                       "Snapshots (W) and incremental refreshes (X) a "
                                       "market-data session applied.", labels=["session"])
        resubscribed = CounterMetricFamily("oms_marketdata_resubscriptions",
                                           "Symbols resubscribed after an update that did "
                                           "not fit the book.", labels=["session"])
        for feed in feeds:
            messages.add_metric([feed.name], feed.messages)
            resubscribed.add_metric([feed.name], feed.resubscriptions)
        yield messages
        yield resubscribed


def _number(value: Any) -> float:
    return float(value)
