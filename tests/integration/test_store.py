"""The blotter on real databases: migrations, exact amounts, the journal writer, reads.

Every test that takes ``engine`` or ``database_url`` runs on a SQLite file and on PostgreSQL
(see ``tests/conftest.py``). Figures printed by the ``*_figures`` tests show with ``-s``;
nothing here asserts on time.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import count
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from oms.app.base import child_snapshot, order_snapshot
from oms.app.records import Batch, ChildSnapshot, EventRecord, ExecutionRecord, OrderSnapshot
from oms.domain.enums import OrdStatus, OrdType, Side, TimeInForce
from oms.domain.errors import StoreError
from oms.domain.order import ChildOrder, Order, PendingRequest, Trigger
from oms.localproc import free_port
from oms.store import (
    JournalWriter,
    current_revision,
    get_order,
    head_revision,
    list_orders,
    load_open_orders,
    load_seen_broker_exec_ids,
    load_session_cl_ord_ids,
    make_engine,
    normalize_url,
    order_fill_consistency,
    upgrade,
)
from oms.store.db import SQLITE_PAGE_SIZE
from oms.store.schema import (
    child_orders,
    executions,
    fix_sessions,
    market_bars,
    market_data,
    metadata,
    order_arrivals,
    order_events,
    orders,
)

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
SESSION = "FIX.4.4:OMS->CLIENT1"
BROKER = "FIX.4.4:OMS->BROKER1"
_exec_ids = count(1)


# --- builders ---------------------------------------------------------------------------
def new_order(order_id: str = "O1", qty: str = "100", created_at: datetime = T0) -> Order:
    """An order with its child K-<order_id> at BROKER1."""
    order = Order(
        order_id=order_id,
        session=SESSION,
        cl_ord_id=f"C-{order_id}",
        symbol="IBM",
        side=Side.BUY,
        ord_type=OrdType.LIMIT,
        order_qty=Decimal(qty),
        price=Decimal("10.25"),
        time_in_force=TimeInForce.GTC,
        account="ACC1",
        created_at=created_at,
    )
    order.route_to(ChildOrder(f"K-{order_id}", order_id, "BROKER1", BROKER, f"K-{order_id}",
                              Decimal(qty), created_at=created_at))
    return order


def children_of(*orders_: Order, updated_at: datetime = T0) -> dict[str, ChildSnapshot]:
    """The child rows the core would journal for ``orders_`` now."""
    return {child.child_id: child_snapshot(child, updated_at)
            for order in orders_ for child in order.children}


def snapshot(order: Order, updated_at: datetime = T0) -> OrderSnapshot:
    """What the core would journal for ``order`` now (the core's own function)."""
    return order_snapshot(order, updated_at)


def execution(
    order: Order,
    exec_type: str,
    exec_id: str | None = None,
    last_qty: str = "0",
    last_px: str = "0",
    exec_ref_id: str = "",
    broker_exec_id: str = "",
) -> ExecutionRecord:
    return ExecutionRecord(
        exec_id=exec_id or f"X{next(_exec_ids)}",
        order_id=order.order_id,
        exec_type=exec_type,
        ord_status=order.status.value,
        last_qty=Decimal(last_qty),
        last_px=Decimal(last_px),
        cum_qty=order.cum_qty,
        leaves_qty=order.leaves_qty,
        avg_px=order.avg_px,
        exec_ref_id=exec_ref_id,
        broker_session=BROKER if broker_exec_id else "",
        broker_exec_id=broker_exec_id,
        transact_time=T0,
        child_id=order.child.child_id if order.child is not None else "",
    )


def event(order_id: str | None, body: str, kind: str = "transition") -> EventRecord:
    return EventRecord(ts=T0, kind=kind, order_id=order_id, session=SESSION, msg_type="", body=body)


def batch_of(*orders_: Order, execs: tuple[ExecutionRecord, ...] = (), note: str = "") -> Batch:
    return Batch(
        orders={o.order_id: snapshot(o) for o in orders_},
        executions=list(execs),
        events=[event(o.order_id, note or f"v{o.version}") for o in orders_],
    )


def count_rows(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _in_a_thread(call: Callable[[], bool]) -> Future[bool]:
    """Run ``call`` in a thread of its own (as the core's), its outcome in a Future."""
    outcome: Future[bool] = Future()

    def run() -> None:
        try:
            outcome.set_result(call())
        except BaseException as exc:
            outcome.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return outcome


@pytest.fixture
def writer(engine: sa.Engine) -> Iterator[JournalWriter]:
    journal = JournalWriter(engine)
    yield journal
    journal.stop(timeout=2.0)


# --- migrations -------------------------------------------------------------------------
def test_upgrade_twice_reaches_head_and_the_second_is_a_no_op(database_url: str) -> None:
    # Arrange
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None

        # Act
        first = upgrade(engine)
        second = upgrade(database_url)  # by URL this time

        # Assert
        assert first == second == head_revision() == current_revision(engine)
        assert count_rows(engine, orders) == 0
    finally:
        engine.dispose()


def test_a_blotter_of_the_first_revision_keeps_its_journal_through_the_upgrade(
        database_url: str) -> None:
    # Arrange: a database at 0001 with a journal row of the old shape
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO order_events (ts, kind, order_id, session, msg_type, body) "
                "VALUES ('2024-03-01 14:30:00.000000', 'transition', 'O1', 'S', 'FILL', "
                "'NEW -> FILLED')")

        # Act
        upgrade(engine)

        # Assert
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            row = connection.execute(sa.select(order_events.c.kind, order_events.c.body,
                                               order_events.c.transition)).one()
        assert tuple(row) == ("transition", "NEW -> FILLED", "")
    finally:
        engine.dispose()


def test_a_blotter_of_the_previous_version_gets_child_orders_with_its_children(
        database_url: str) -> None:
    # #17: 0004 moves each routed order's child out of ``orders`` into ``child_orders``,
    # and names it on the order's executions; an order never routed gets no child
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0003")
        columns = ("order_id, session, cl_ord_id, orig_cl_ord_id, symbol, side, ord_type, "
                   "time_in_force, order_qty, price, stop_px, account, ex_destination, status, "
                   "cum_qty, leaves_qty, avg_px, notional, accepted, route, child_cl_ord_id, "
                   "broker_order_id, pending, text, version, created_at, updated_at")
        pending = ('{"kind":"cancel","cl_ord_id":"C2","orig_cl_ord_id":"C1",'
                   '"child_cl_ord_id":"K9","order_qty":null,"price":null,"stop_px":null,'
                   '"ord_type":null,"time_in_force":null,"operator":false,"resume_status":null}')
        stamp = "'2024-03-01 14:30:00.000000'"
        with engine.begin() as connection:
            for values in (
                f"'O1', 'S', 'C1', '', 'IBM', '1', '2', '0', '100', '10', NULL, '', '', '6', "
                f"'40', '60', '10', '400', true, 'SIM', 'K1', 'B1', '{pending}', '', 4, "
                f"{stamp}, {stamp}",
                f"'O2', 'S', 'C5', '', 'IBM', '1', '2', '0', '100', '10', NULL, '', '', '8', "
                f"'0', '0', '0', '0', false, '', '', '', '', 'No route', 1, {stamp}, {stamp}",
            ):
                connection.exec_driver_sql(f"INSERT INTO orders ({columns}) VALUES ({values})")
            connection.exec_driver_sql(
                "INSERT INTO executions (exec_id, order_id, exec_type, ord_status, last_qty, "
                "last_px, cum_qty, leaves_qty, avg_px, exec_ref_id, broker_session, "
                "broker_exec_id, transact_time, text) VALUES "
                f"('E1', 'O1', 'F', '1', '40', '10', '40', '60', '10', '', 'B', 'X1', {stamp}, ''),"
                f"('E2', 'O2', '8', '8', '0', '0', '0', '0', '0', '', '', '', {stamp}, '')")

        # Act
        upgrade(engine)

        # Assert
        with engine.connect() as connection:
            children = connection.execute(sa.select(child_orders)).mappings().all()
            executions_ = dict(connection.execute(
                sa.select(executions.c.exec_id, executions.c.child_id)).all())
        assert [(c["child_id"], c["order_id"], c["route"], c["session"], c["cl_ord_id"],
                 c["broker_order_id"], c["order_qty"], c["pending"], c["version"])
                for c in children] == [("K1", "O1", "SIM", "", "K1", "B1", Decimal("100"),
                                        pending, 4)]
        assert executions_ == {"E1": "K1", "E2": ""}
        [order] = load_open_orders(engine)
        assert order.order_id == "O1" and order.status is OrdStatus.PENDING_CANCEL
        assert [(c.child_id, c.cum_qty) for c in order.children] == [("K1", Decimal("40"))]
        assert order.pending is not None and order.pending.child_cl_ord_id == "K9"
        assert order.cum_qty == Decimal("40") and order.avg_px == Decimal("10")
    finally:
        engine.dispose()


def test_a_blotter_of_0005_gets_market_bars_and_keeps_its_orders_without_arrival_quotes(
        database_url: str) -> None:
    # #20: 0006 adds ``market_bars`` (and an arrival quote that 0007 moves to
    # ``order_arrivals``): the order has none
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO orders (order_id, session, cl_ord_id, orig_cl_ord_id, symbol, "
                "side, ord_type, time_in_force, order_qty, price, stop_px, account, "
                "ex_destination, status, cum_qty, leaves_qty, avg_px, notional, accepted, "
                "text, version, created_at, updated_at) VALUES ('O1', 'S', 'C1', '', 'IBM', "
                "'1', '2', '0', '100', '10', NULL, '', '', '0', '0', '100', '0', '0', true, "
                "'', 1, '2024-03-01 14:30:00.000000', '2024-03-01 14:30:00.000000')")

        # Act
        upgrade(engine)

        # Assert
        assert current_revision(engine) == head_revision()
        found = get_order(engine, "O1")
        assert found is not None
        order = found["order"]
        assert (order["arrival_bid"], order["arrival_ask"], order["arrival_mid"],
                order["arrival_stale"]) == (None, None, None, None)
        [loaded] = load_open_orders(engine)
        assert loaded.arrival_mid is None
        assert count_rows(engine, market_bars) == 0
    finally:
        engine.dispose()


def test_0007_moves_the_arrival_quotes_of_0006_to_order_arrivals(database_url: str) -> None:
    # #20: 0006 kept the arrival quote on the order's row; 0007 moves it to its own table
    engine = make_engine(database_url)
    insert = (
        "INSERT INTO orders (order_id, session, cl_ord_id, orig_cl_ord_id, symbol, side, "
        "ord_type, time_in_force, order_qty, price, stop_px, account, ex_destination, status, "
        "cum_qty, leaves_qty, avg_px, notional, accepted, text, version, created_at, "
        "updated_at, arrival_bid, arrival_ask, arrival_mid, arrival_stale) VALUES "
        "('{id}', 'S', 'C-{id}', '', 'IBM', '1', '2', '0', '100', '10', NULL, '', '', '0', '0', "
        "'100', '0', '0', true, '', 1, '2024-03-01 14:30:00.000000', "
        "'2024-03-01 14:30:00.000000', {quote})")
    try:
        upgrade(engine, "0006")
        with engine.begin() as connection:
            connection.exec_driver_sql(insert.format(
                id="O1", quote="'99.98', '100.02', '100', true"))
            connection.exec_driver_sql(insert.format(id="O2", quote="NULL, NULL, NULL, NULL"))

        # Act
        upgrade(engine)

        # Assert: O1's quote is where readers find it, O2 has none, orders lost the columns
        assert current_revision(engine) == head_revision()
        quoted, bare = get_order(engine, "O1"), get_order(engine, "O2")
        assert quoted is not None and bare is not None
        assert (quoted["order"]["arrival_bid"], quoted["order"]["arrival_ask"],
                quoted["order"]["arrival_mid"], quoted["order"]["arrival_stale"]) == (
            Decimal("99.98"), Decimal("100.02"), Decimal("100"), True)
        assert bare["order"]["arrival_mid"] is None
        assert count_rows(engine, order_arrivals) == 1
        assert not {c["name"] for c in sa.inspect(engine).get_columns("orders")
                    if c["name"].startswith("arrival_")}
        loaded = {o.order_id: o for o in load_open_orders(engine)}
        assert loaded["O1"].arrival_bid == Decimal("99.98") and loaded["O2"].arrival_bid is None
    finally:
        engine.dispose()


def test_migrations_build_exactly_the_schema_the_code_declares(engine: sa.Engine) -> None:
    # Act
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)

    # Assert
    assert differences == []


def test_sqlite_connections_are_durable_and_in_wal_mode(sqlite_database_url: str) -> None:
    # Arrange
    engine = make_engine(sqlite_database_url)

    # Act
    with engine.connect() as connection:
        settings = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout",
                         "page_size")
        }
    engine.dispose()

    # Assert
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == 2  # FULL
    assert settings["foreign_keys"] == 1
    assert settings["busy_timeout"] > 0
    assert settings["page_size"] == SQLITE_PAGE_SIZE  # a new database (#3: smaller commits)


def test_an_existing_sqlite_database_keeps_its_page_size(tmp_path: Path) -> None:
    # Arrange: a database made elsewhere with 4 KiB pages, holding a row
    path = tmp_path / "old.db"
    made = sqlite3.connect(path)
    made.execute("PRAGMA page_size = 4096")
    made.execute("PRAGMA journal_mode = WAL")
    made.execute("CREATE TABLE kept (n INTEGER)")
    made.execute("INSERT INTO kept VALUES (1)")
    made.commit()
    made.close()

    # Act
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        page_size = connection.exec_driver_sql("PRAGMA page_size").scalar()
        rows = connection.exec_driver_sql("SELECT n FROM kept").scalars().all()
    engine.dispose()

    # Assert
    assert page_size == 4096
    assert rows == [1]


# --- column types -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "0.1",
        "123456789.123456789",  # 18 significant digits: a float keeps 17
        "1000000000000",
        "987654321987654321.5",
        "0.000000000001",  # below NUMERIC(28,10)'s scale
        "-42.50",
        "0",
    ],
)
def test_amounts_round_trip_exactly(engine: sa.Engine, text: str) -> None:
    # Arrange
    value = Decimal(text)

    # Act
    with engine.begin() as connection:
        connection.execute(
            market_data.insert(), {"symbol": "IBM", "ts": T0, "last": value, "volume": None}
        )
    with engine.connect() as connection:
        stored, volume = connection.execute(sa.select(market_data.c["last", "volume"])).one()

    # Assert
    assert type(stored) is Decimal
    assert stored == value
    assert str(stored) == str(value)
    assert volume is None


def test_amount_columns_refuse_floats(engine: sa.Engine) -> None:
    # Act / Assert
    with pytest.raises(sa.exc.StatementError, match="float"):
        with engine.begin() as connection:
            connection.execute(market_data.insert(), {"symbol": "IBM", "ts": T0, "last": 0.1})


def test_timestamps_are_stored_in_utc_and_come_back_aware(engine: sa.Engine) -> None:
    # Arrange
    paris = timezone(timedelta(hours=2))
    local = datetime(2024, 6, 1, 16, 30, 15, 123456, tzinfo=paris)

    # Act
    with engine.begin() as connection:
        connection.execute(market_data.insert(), {"symbol": "IBM", "ts": local})
    with engine.connect() as connection:
        stored = connection.execute(sa.select(market_data.c.ts)).scalar_one()
        later = connection.execute(
            sa.select(sa.func.count()).where(market_data.c.ts >= T0.replace(month=6))
        ).scalar_one()

    # Assert
    assert stored == local
    assert stored.tzinfo == UTC
    assert stored.hour == 14
    assert later == 1


# --- the journal writer -----------------------------------------------------------------
def test_each_batch_commits_in_one_transaction_and_is_acked_after_its_rows_are_visible(
    engine: sa.Engine, database_url: str
) -> None:
    # Arrange
    observer = make_engine(database_url)  # a separate pool: sees only committed rows
    seen: list[tuple[int, int, int]] = []
    journal = JournalWriter(engine)
    batches = []
    for number in (1, 2, 3):
        batch = batch_of(new_order(f"O{number}"))
        batch.after_commit.append(
            lambda n=number: seen.append(
                (n, count_rows(observer, orders), count_rows(observer, order_events))
            )
        )
        batches.append(batch)

    # Act
    written = [journal.write_now(batch) for batch in batches]
    stopped_cleanly = journal.stop()
    observer.dispose()

    # Assert
    assert written == [True, True, True] and stopped_cleanly
    assert journal.commits == 3
    assert journal.batches_committed == 3
    assert journal.rows_written == 6
    assert len(journal.commit_durations) == 3
    # the calling thread's CPU inside the commits
    assert 0 < journal.commit_cpu_s <= sum(journal.commit_durations) + 0.01
    assert seen == [(1, 1, 1), (2, 2, 2), (3, 3, 3)]


def test_a_stale_snapshot_never_overwrites_a_newer_one(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange
    order = new_order()
    order.apply(Trigger.ACCEPT)
    accepted = snapshot(order)  # version 1
    order.fill("X-a", Decimal("40"), Decimal("10"))
    partly_filled = snapshot(order)  # version 2

    # Act: the newest first, then the stale one in two later batches
    assert writer.write_now(Batch(orders={"O1": partly_filled}))
    assert writer.write_now(Batch(orders={"O1": accepted}))
    assert writer.write_now(Batch(orders={"O1": accepted}))

    # Assert
    row = get_order(engine, "O1")
    assert row is not None
    assert row["order"]["version"] == 2
    assert row["order"]["status"] == OrdStatus.PARTIALLY_FILLED.value
    assert row["order"]["cum_qty"] == Decimal("40")


def test_state_changes_and_a_replace_each_leave_the_row_and_its_lookups_as_the_order_is(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # #3: on SQLite an order row is first written with an upsert that leaves the indexed
    # columns alone, and again in full when they changed (a replace's new ClOrdIDs); #17:
    # the child's row the same way
    # Arrange: two orders in each group, one of them replaced in the third
    placed = [new_order("O1"), new_order("O2")]
    groups = [Batch(orders={o.order_id: snapshot(o) for o in placed},
                    children=children_of(*placed))]
    for order in placed:
        order.apply(Trigger.ACCEPT)
        assert order.child is not None
        order.child.known_as(f"B-{order.order_id}")
    groups.append(Batch(orders={o.order_id: snapshot(o) for o in placed},
                        children=children_of(*placed)))
    replaced, filled = placed
    replaced.orig_cl_ord_id, replaced.cl_ord_id = replaced.cl_ord_id, "C-O1-2"
    replaced.order_qty = Decimal("150")
    child = replaced.child
    assert child is not None
    child.prior_cl_ord_ids, child.cl_ord_id = child.cl_ord_ids, "K-O1-2"
    child.version += 1
    replaced.version += 1
    filled.fill("X-f", Decimal("100"), Decimal("10.25"))
    groups.append(Batch(orders={o.order_id: snapshot(o) for o in placed},
                        children=children_of(replaced)))

    # Act
    for group in groups:
        assert writer.write_now(group)
    writer.close_connection()

    # Assert: every column as the order is now, and its row found through each index
    with engine.connect() as connection:
        rows = {row.order_id: row for row in connection.execute(sa.select(orders))}
        child_rows = {row.child_id: row for row in connection.execute(sa.select(child_orders))}
        by_client = connection.execute(
            sa.select(orders.c.order_id).where(orders.c.session == SESSION,
                                              orders.c.cl_ord_id == "C-O1-2")).scalars().all()
        by_child = connection.execute(
            sa.select(child_orders.c.order_id).where(child_orders.c.cl_ord_id.in_(
                ["K-O1", "K-O1-2", "K-O2"])).order_by(child_orders.c.cl_ord_id)
        ).scalars().all()
    for order in placed:
        stored = rows[order.order_id]._asdict()
        expected = dataclasses.asdict(snapshot(order))
        assert {name: stored[name] for name in expected} == expected
        for child_id, expected_child in children_of(order).items():
            stored = child_rows[child_id]._asdict()
            assert {name: stored[name] for name in dataclasses.asdict(expected_child)} == \
                dataclasses.asdict(expected_child)
    assert rows["O1"].cl_ord_id == "C-O1-2"
    assert (child_rows["K-O1"].cl_ord_id, child_rows["K-O1"].prior_cl_ord_ids) == (
        "K-O1-2", "K-O1")
    assert child_rows["K-O2"].broker_order_id == "B-O2"
    assert rows["O2"].status == OrdStatus.FILLED.value and rows["O2"].version == 2
    assert by_client == ["O1"] and by_child == ["O1", "O2"]
    assert writer.rows_skipped == 0 and writer.failures == 0


def test_open_orders_reload_with_fills_a_bust_and_a_correction(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange: the domain books the trades; the journal records what it booked
    order = new_order(qty="1000")
    order.apply(Trigger.ACCEPT)
    records = [execution(order, "0", "E0")]
    records[0].broker_order_id = "BO-1"
    order.fill("E1", Decimal("100"), Decimal("10.10"), "B1")
    records.append(execution(order, "F", "E1", "100", "10.10", broker_exec_id="B1"))
    order.fill("E2", Decimal("200"), Decimal("10.20"), "B2")
    records.append(execution(order, "F", "E2", "200", "10.20", broker_exec_id="B2"))
    order.fill("E3", Decimal("300"), Decimal("10.30"), "B3")
    records.append(execution(order, "F", "E3", "300", "10.30", broker_exec_id="B3"))
    order.bust("E1")
    records.append(execution(order, "H", "E4", exec_ref_id="E1", broker_exec_id="B4"))
    order.correct("E2", "E5", Decimal("150"), Decimal("10.25"), "B5")
    records.append(execution(order, "G", "E5", "150", "10.25", "E2", broker_exec_id="B5"))
    records[-1].broker_order_id = "BO-2"  # the broker gave the order a new OrderID
    order.request(PendingRequest("cancel", "C-cxl", order.cl_ord_id, "K-cxl"))
    finished = new_order("O2")
    finished.apply(Trigger.ACCEPT)
    finished.apply(Trigger.CANCEL)

    # Act
    assert writer.write_now(
        Batch(orders={"O1": snapshot(order), "O2": snapshot(finished)},
              children=children_of(order, finished), executions=records)
    )
    loaded = load_open_orders(engine)

    # Assert
    assert [o.order_id for o in loaded] == ["O1"]  # O2 is canceled: terminal
    reloaded = loaded[0]
    assert [(f.exec_id, f.qty, f.px, f.broker_exec_id) for f in reloaded.fills] == [
        ("E5", Decimal("150"), Decimal("10.25"), "B5"),
        ("E3", Decimal("300"), Decimal("10.30"), "B3"),
    ]
    assert reloaded.cum_qty == order.cum_qty == Decimal("450")
    assert reloaded.avg_px == order.avg_px
    assert reloaded.leaves_qty == Decimal("550")
    assert reloaded.status is OrdStatus.PENDING_CANCEL
    assert reloaded.pending == order.pending
    assert reloaded.side is Side.BUY and reloaded.time_in_force is TimeInForce.GTC
    assert reloaded.version == order.version
    assert reloaded.accepted is True
    assert reloaded.created_at == T0
    assert [(c.child_id, c.route, c.session, c.cl_ord_id, c.cum_qty) for c in
            reloaded.children] == [("K-O1", "BROKER1", BROKER, "K-O1", Decimal("450"))]
    # the broker's OrderID was never on the child's row: its latest execution has it
    assert reloaded.children[0].broker_order_id == "BO-2"
    assert order_fill_consistency(engine) == []
    # the reloaded order keeps working: the domain can cancel against its fills
    reloaded.apply(Trigger.CANCEL)
    assert reloaded.status is OrdStatus.CANCELED


def test_a_duplicate_broker_exec_id_is_skipped_journaled_as_an_error_and_does_not_wedge(
    engine: sa.Engine, writer: JournalWriter, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: the same broker execution booked twice under two of our ExecIDs
    order = new_order()
    order.apply(Trigger.ACCEPT)
    order.fill("E1", Decimal("10"), Decimal("10"), "B1")
    first = execution(order, "F", "E1", "10", "10", broker_exec_id="B1")
    resent = execution(order, "F", "E1-again", "10", "10", broker_exec_id="B1")
    acked: list[str] = []
    assert writer.write_now(Batch(orders={"O1": snapshot(order)}, executions=[first]))

    # Act
    with caplog.at_level("ERROR", logger="oms.store.journal"):
        bad = batch_of(order, execs=(resent,))
        bad.after_commit.append(lambda: acked.append("bad"))
        assert writer.write_now(bad)
        following = batch_of(new_order("O2"))
        following.after_commit.append(lambda: acked.append("next"))
        assert writer.write_now(following)

    # Assert
    assert acked == ["bad", "next"]  # the rest of the batch committed, and the next one
    assert writer.rows_skipped == 1
    detail = get_order(engine, "O1")
    assert detail is not None
    assert [e["exec_id"] for e in detail["executions"]] == ["E1"]
    errors = [e for e in detail["events"] if e["kind"] == "error"]
    assert len(errors) == 1 and "E1-again" in errors[0]["body"]
    assert get_order(engine, "O2") is not None
    assert any("E1-again" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert load_seen_broker_exec_ids(engine) == {(BROKER, "B1")}


def test_a_snapshot_the_columns_refuse_is_skipped_instead_of_retried_forever(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange: a float slipped into a snapshot (a bug upstream); its neighbour is fine
    broken = snapshot(new_order("O1"))
    broken.price = 10.25  # type: ignore[assignment]
    good = batch_of(new_order("O2"))
    good.orders["O1"] = broken
    acked: list[str] = []
    good.after_commit.append(lambda: acked.append("done"))

    # Act
    written = writer.write_now(good)

    # Assert
    assert written and acked == ["done"]
    assert writer.failures == 0 and writer.rows_skipped == 1
    assert get_order(engine, "O1") is None
    detail = get_order(engine, "O2")
    assert detail is not None
    with engine.connect() as connection:
        errors = (
            connection.execute(sa.select(order_events.c.body).where(order_events.c.kind == "error"))
            .scalars()
            .all()
        )
    assert len(errors) == 1 and "order snapshot O1" in errors[0] and "float" in errors[0]


def test_the_row_by_row_path_records_the_sessions_marks_as_the_fast_path_does(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange: marks written on the fast path, then batches with a refused row (a float in
    # a snapshot) that go row by row: one moves every mark, one only the inbound one
    assert writer.write_now(Batch(events=[event(None, "first")], inbound_seqs={SESSION: 5},
                                  outbound={SESSION: 3}, out_sent={SESSION: 2}))
    broken = snapshot(new_order("O1"))
    broken.price = 10.25  # type: ignore[assignment]

    # Act
    assert writer.write_now(Batch(orders={"O1": broken}, inbound_seqs={SESSION: 6},
                                  outbound={SESSION: 4, BROKER: 1}))
    assert writer.write_now(Batch(orders={"O1": broken}, inbound_seqs={SESSION: 7}))

    # Assert: a NULL mark leaves the stored one; a session the journal creates has the
    # columns it does not know empty
    with engine.connect() as connection:
        stored = {row.name: row for row in connection.execute(sa.select(fix_sessions))}
    assert writer.rows_skipped == 2
    assert (stored[SESSION].last_inbound_seq, stored[SESSION].outbox_committed,
            stored[SESSION].outbox_sent) == (7, 4, 2)
    assert (stored[BROKER].last_inbound_seq, stored[BROKER].outbox_committed,
            stored[BROKER].outbox_sent) == (None, 1, None)
    assert (stored[BROKER].role, stored[BROKER].sender_comp_id, stored[BROKER].target_comp_id,
            stored[BROKER].status) == ("", "", "", "")
    assert stored[BROKER].updated_at.tzinfo is not None


def test_a_failing_database_never_acks_and_the_batch_commits_once_it_recovers(
    engine: sa.Engine,
) -> None:
    # Arrange: the events table disappears under the writer
    errors: list[BaseException] = []
    acked: list[str] = []
    journal = JournalWriter(engine, on_error=errors.append)
    with engine.begin() as connection:
        order_events.drop(connection)
    batch = batch_of(new_order())
    batch.after_commit.append(lambda: acked.append("O1"))

    # Act: the core's thread retries inside write_now
    writing = _in_a_thread(lambda: journal.write_now(batch))
    assert wait_until(lambda: journal.failures >= 2)
    acked_while_failing = list(acked)
    rows_while_failing = count_rows(engine, orders)
    with engine.begin() as connection:
        order_events.create(connection)
    written = writing.result(timeout=10)
    journal.stop()

    # Assert
    assert acked_while_failing == []
    assert rows_while_failing == 0  # rolled back as a whole
    assert len(errors) >= 2 and journal.last_error is not None
    assert written and acked == ["O1"]
    assert count_rows(engine, orders) == 1 and count_rows(engine, order_events) == 1
    assert journal.failing is False


def test_stop_gives_up_on_a_broken_database_without_acknowledging(engine: sa.Engine) -> None:
    # Arrange: one batch retrying in one thread, another waiting for its turn in another
    acked: list[str] = []
    journal = JournalWriter(engine)
    with engine.begin() as connection:
        orders.drop(connection)
    batches = []
    for number in (1, 2):
        batch = batch_of(new_order(f"O{number}"))
        batch.after_commit.append(lambda n=number: acked.append(f"O{n}"))
        batches.append(batch)
    retrying = _in_a_thread(lambda: journal.write_now(batches[0]))
    assert wait_until(lambda: journal.failures >= 1)
    waiting = _in_a_thread(lambda: journal.write_now(batches[1]))

    # Act
    stopped_cleanly = journal.stop(timeout=0.5)

    # Assert: the first gave up, the second was refused
    assert stopped_cleanly is False
    assert retrying.result(timeout=5) is False
    with pytest.raises(StoreError):
        waiting.result(timeout=5)
    assert acked == []
    assert journal.batches_abandoned == 1 and journal.batches_committed == 0
    assert count_rows(engine, order_events) == 0


def test_stop_after_every_batch_committed_is_clean_and_refuses_later_batches(
        engine: sa.Engine) -> None:
    # Arrange
    acked: list[int] = []
    journal = JournalWriter(engine)
    journal.start()
    for number in range(20):
        batch = batch_of(new_order(f"O{number:03d}"))
        batch.after_commit.append(lambda n=number: acked.append(n))
        assert journal.write_now(batch)

    # Act
    stopped_cleanly = journal.stop()

    # Assert
    assert stopped_cleanly
    assert acked == list(range(20))
    assert journal.batches_committed == 20 and journal.commits == 20
    assert count_rows(engine, orders) == 20
    late = batch_of(new_order("late"))
    late.after_commit.append(lambda: acked.append(-1))
    with pytest.raises(StoreError):
        journal.write_now(late)
    assert acked == list(range(20)) and count_rows(engine, orders) == 20


def test_a_raising_callback_is_logged_and_the_writer_carries_on(
    writer: JournalWriter, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange
    acked: list[str] = []

    def explode() -> None:
        raise RuntimeError("socket gone")

    first = batch_of(new_order("O1"))
    first.after_commit += [explode, lambda: acked.append("O1")]
    second = batch_of(new_order("O2"))
    second.after_commit.append(lambda: acked.append("O2"))

    # Act
    with caplog.at_level("ERROR", logger="oms.store.journal"):
        written = [writer.write_now(first), writer.write_now(second)]

    # Assert
    assert written == [True, True] and acked == ["O1", "O2"]
    assert writer.batches_committed == 2
    assert any("socket gone" in (r.exc_text or "") for r in caplog.records)


def test_a_batch_of_callbacks_alone_is_acked_without_a_commit(writer: JournalWriter) -> None:
    # Arrange
    done = threading.Event()

    # Act
    written = writer.write_now(Batch(after_commit=[done.set]))  # no rows: still acked

    # Assert
    assert written and done.is_set()
    assert writer.commits == 0 and writer.batches_committed == 1


def test_sqlite_wal_is_checkpointed_beside_the_commits_not_inside_them(
        sqlite_database_url: str) -> None:
    # #3: the journal's own commits checkpoint only far past SQLite's default; a thread of
    # its own keeps the WAL short with PASSIVE checkpoints
    # Arrange
    engine = make_engine(sqlite_database_url)
    upgrade(engine)
    journal = JournalWriter(engine, checkpoint_interval=0.02)
    assert journal.checkpointer is not None
    journal.start()
    try:
        # Act
        for n in range(50):
            assert journal.write_now(batch_of(new_order(f"W{n}")))
        assert wait_until(lambda: journal.checkpointer.checkpoints >= 3)
        autocheckpoint = journal._raw.driver_connection.execute(
            "PRAGMA wal_autocheckpoint").fetchone()[0]
    finally:
        assert journal.stop(timeout=5)
    # Assert
    assert autocheckpoint == journal.checkpointer.FALLBACK_PAGES
    assert journal.checkpointer.failures == 0 and not journal.checkpointer.running
    assert count_rows(engine, orders) == 50
    with engine.connect() as connection:  # everything committed is in the database file
        busy, log_frames, checkpointed = connection.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and log_frames == checkpointed
    engine.dispose()


def test_only_a_sqlite_file_gets_a_checkpointer(engine: sa.Engine) -> None:
    # Arrange
    memory = make_engine("sqlite://")
    try:
        # Act / Assert
        has_one = JournalWriter(engine).checkpointer is not None
        assert has_one == (engine.dialect.name == "sqlite")
        assert JournalWriter(memory).checkpointer is None  # one shared connection
    finally:
        memory.dispose()


AWKWARD_TEXT = 'Text(58) with "quotes", {braces}, a back\\slash, \'single\' quotes, é and NULL'


def test_the_fast_path_keeps_text_nulls_and_order_exactly(writer: JournalWriter,
                                                          engine: sa.Engine) -> None:
    # #3: on PostgreSQL a group is one statement of per-column arrays; on SQLite executemany.
    # Text that array literals must escape, columns that are NULL in every row, a table
    # with no rows in a group and the order of the audit rows must all come back as written.
    # Arrange
    market = new_order("M1")
    market.ord_type, market.price, market.text = OrdType.MARKET, None, AWKWARD_TEXT
    other = new_order("M2")
    other.ord_type, other.price = OrdType.MARKET, None
    bodies = [AWKWARD_TEXT, "NULL", "", "{}", "35=D|11=C-M1|58=a,b"]
    first = Batch(orders={o.order_id: snapshot(o) for o in (market, other)},
                  events=[event(None if n % 2 else "M1", body) for n, body in enumerate(bodies)],
                  inbound_seqs={SESSION: 41})
    fill = execution(market, "F", last_qty="100", last_px="10.125", broker_exec_id="B1")
    fill.text = AWKWARD_TEXT
    second = Batch(executions=[fill], inbound_seqs={SESSION: 42})

    # Act
    assert writer.write_now(first) and writer.write_now(second)
    kept = writer._raw.driver_connection  # the connection the journal keeps between commits
    writer.close_connection()

    # Assert
    with engine.connect() as connection:
        stored = connection.execute(sa.select(orders.c.order_id, orders.c.price,
                                              orders.c.stop_px, orders.c.text)
                                    .order_by(orders.c.order_id)).all()
        audit = connection.execute(sa.select(order_events.c.order_id, order_events.c.body)
                                   .order_by(order_events.c.id)).all()
        booked = connection.execute(sa.select(executions.c.last_px, executions.c.text)).one()
        seq = connection.exec_driver_sql("SELECT last_inbound_seq FROM fix_sessions").scalar()
    if engine.dialect.name == "postgresql":
        # the journal gives its autocommit connection back to the pool as it was lent
        assert kept.autocommit is False
    assert stored == [("M1", None, None, AWKWARD_TEXT), ("M2", None, None, "")]
    assert audit == [(None if n % 2 else "M1", body) for n, body in enumerate(bodies)]
    assert booked == (Decimal("10.125"), AWKWARD_TEXT)
    assert seq == 42
    assert writer.failures == 0 and writer.rows_skipped == 0


@pytest.mark.parametrize("count", [1, 2, 15, 16, 17, 63, 64, 65, 81, 150])
def test_every_chunk_shape_writes_each_row_once_in_order(writer: JournalWriter,
                                                          engine: sa.Engine, count: int) -> None:
    # #3: on SQLite n rows of a table go in statements of 64, then 16, then the rest
    # Arrange
    placed = [new_order(f"N{n:03d}") for n in range(count)]
    fills = [execution(order, "F", last_qty="100", last_px="10.25", broker_exec_id=f"B{n}")
             for n, order in enumerate(placed)]
    group = Batch(orders={o.order_id: snapshot(o) for o in placed}, executions=fills,
                  events=[event(o.order_id, f"row {n}") for n, o in enumerate(placed)],
                  inbound_seqs={f"FIX.4.4:OMS->C{n}": n + 1 for n in range(min(count, 20))})

    # Act
    assert writer.write_now(group)
    writer.close_connection()

    # Assert
    with engine.connect() as connection:
        stored = connection.execute(sa.select(orders.c.order_id)
                                    .order_by(orders.c.order_id)).scalars().all()
        audit = connection.execute(sa.select(order_events.c.body)
                                   .order_by(order_events.c.id)).scalars().all()
        booked = connection.execute(sa.select(executions.c.broker_exec_id)
                                    .order_by(executions.c.seq)).scalars().all()
        seqs = dict(connection.exec_driver_sql(
            "SELECT name, last_inbound_seq FROM fix_sessions").all())
    assert stored == [o.order_id for o in placed]
    assert audit == [f"row {n}" for n in range(count)]
    assert booked == [f"B{n}" for n in range(count)]
    assert seqs == group.inbound_seqs
    assert writer.rows_skipped == 0


# --- reads ------------------------------------------------------------------------------
def test_recent_client_ids_and_broker_exec_ids_are_found_for_restart(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange
    old = new_order("O-old", created_at=T0 - timedelta(days=2))
    replaced = new_order("O-new", created_at=T0)
    replaced.orig_cl_ord_id, replaced.cl_ord_id = replaced.cl_ord_id, "C-O-new-2"
    other = new_order("O-other", created_at=T0)
    other.session = "FIX.4.4:OMS->CLIENT2"
    replaced.apply(Trigger.ACCEPT)
    replaced.fill("E1", Decimal("1"), Decimal("10"), "B1")
    early = execution(replaced, "F", "E1", "1", "10", broker_exec_id="B1")
    early.transact_time = T0 - timedelta(days=3)
    replaced.fill("E2", Decimal("1"), Decimal("10"), "B2")
    assert writer.write_now(
        batch_of(
            old,
            replaced,
            other,
            execs=(
                early,
                execution(replaced, "F", "E2", "1", "10", broker_exec_id="B2"),
                execution(replaced, "0", "E3"),  # ours: no broker ExecID
            ),
        )
    )

    # Act
    cl_ord_ids = load_session_cl_ord_ids(engine, SESSION, T0 - timedelta(hours=1))
    all_seen = load_seen_broker_exec_ids(engine)
    recent_seen = load_seen_broker_exec_ids(engine, since=T0 - timedelta(days=1))

    # Assert
    assert cl_ord_ids == {"C-O-new", "C-O-new-2"}
    assert all_seen == {(BROKER, "B1"), (BROKER, "B2")}
    assert recent_seen == {(BROKER, "B2")}


def test_blotter_lists_newest_first_and_shows_one_order_in_full(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange
    first = new_order("O1", created_at=T0)
    second = new_order("O2", created_at=T0 + timedelta(seconds=1))
    done = new_order("O3", created_at=T0 + timedelta(seconds=2))
    done.apply(Trigger.DENY)
    assert writer.write_now(
        batch_of(first, second, done, execs=(execution(done, "8", "E-rej"),)))
    assert writer.write_now(Batch(events=[event("O3", "second line", kind="out")]))

    # Act
    open_rows = list_orders(engine)
    all_rows = list_orders(engine, "all", limit=2)
    detail = get_order(engine, "O3")
    missing = get_order(engine, "nope")

    # Assert
    assert [r["order_id"] for r in open_rows] == ["O2", "O1"]
    assert [r["order_id"] for r in all_rows] == ["O3", "O2"]
    assert open_rows[0]["price"] == Decimal("10.25") and open_rows[0]["created_at"].tzinfo
    assert detail is not None and missing is None
    assert detail["order"]["status"] == OrdStatus.REJECTED.value
    assert [e["exec_id"] for e in detail["executions"]] == ["E-rej"]
    assert [e["body"] for e in detail["events"]] == ["v1", "second line"]
    with pytest.raises(ValueError):
        list_orders(engine, "closed")  # type: ignore[arg-type]


def test_fill_consistency_names_an_order_whose_cum_qty_disagrees_with_its_fills(
    engine: sa.Engine, writer: JournalWriter
) -> None:
    # Arrange
    good = new_order("O1")
    good.apply(Trigger.ACCEPT)
    good.fill("E1", Decimal("10"), Decimal("10"))
    bad = new_order("O2")
    bad.apply(Trigger.ACCEPT)
    bad.fill("E2", Decimal("10"), Decimal("10"))
    wrong = snapshot(bad)
    wrong.cum_qty = Decimal("20")  # as if copied blindly from a counterparty
    assert writer.write_now(
        Batch(
            orders={"O1": snapshot(good), "O2": wrong},
            executions=[
                execution(good, "F", "E1", "10", "10"),
                execution(bad, "F", "E2", "10", "10"),
            ],
        )
    )

    # Act
    broken = order_fill_consistency(engine)

    # Assert
    assert broken == [
        {
            "order_id": "O2",
            "status": "1",
            "cum_qty": Decimal("20"),
            "fills_qty": Decimal("10"),
            "fills": 1,
        }
    ]


# --- engines ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql://u:pw@h/db", "postgresql+psycopg://u:pw@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///oms.db", "sqlite:///oms.db"),
    ],
)
def test_database_urls_are_pointed_at_psycopg(given: str, expected: str) -> None:
    # Act / Assert
    assert normalize_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "not a url", "oracle://h/x"],
)
def test_unsupported_database_urls_are_refused_with_a_sentence(url: str) -> None:
    # Act / Assert
    with pytest.raises(StoreError, match="unsupported|not a database URL"):
        make_engine(url)


def test_unreachable_databases_are_refused_with_a_sentence(tmp_path: object) -> None:
    # Arrange
    missing_dir = f"sqlite:///{tmp_path}/no/such/dir/oms.db"
    closed_port = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/oms"

    # Act / Assert
    with pytest.raises(StoreError, match="cannot reach the database"):
        make_engine(missing_dir)
    with pytest.raises(StoreError, match="cannot reach the database") as caught:
        make_engine(closed_port)
    assert "secret" not in str(caught.value)


# --- figures ----------------------------------------------------------------------------
def test_group_commit_figures(engine: sa.Engine, database_url: str) -> None:
    # Arrange: 500 new orders, each with an execution and two events, in one batch
    rounds = 5
    batches = []
    for round_number in range(rounds):
        batch = Batch()
        for number in range(500):
            order = new_order(f"R{round_number}-{number}")
            batch.orders[order.order_id] = snapshot(order)
            batch.executions.append(execution(order, "A"))
            batch.events += [event(order.order_id, "35=D|..."), event(order.order_id, "New")]
        batches.append(batch)
    journal = JournalWriter(engine)
    journal.start()

    # Act
    started = time.perf_counter()
    for batch in batches:
        assert journal.write_now(batch)
    elapsed = time.perf_counter() - started
    journal.stop()

    # Assert
    assert count_rows(engine, orders) == 500 * rounds
    assert count_rows(engine, executions) == 500 * rounds
    durations = sorted(journal.commit_durations)
    backend = engine.dialect.name
    print(
        f"\n[{backend}] {journal.commits} commits of 500 orders + 500 executions + 1000 "
        f"events: median {durations[len(durations) // 2] * 1000:.1f} ms, "
        f"{journal.rows_written / elapsed:,.0f} rows/s, "
        f"{500 * rounds / elapsed:,.0f} orders/s"
    )
