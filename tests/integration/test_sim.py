"""The broker simulator and the upstream client talking FIX 4.4 to each other over loopback.

The client points straight at the broker (its TargetCompID is the broker's SenderCompID), so
these tests pin down how the two simulators behave before the OMS sits between them. Every
engine is stopped in the fixture's teardown; each test has its own sessions directory.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from oms.localproc import free_port
from oms.sim.broker import BrokerSimOptions, BrokerSimulator
from oms.sim.client import ClientOptions, Received, UpstreamClient, run_client

WAIT = 10.0  # seconds; generous, the tests never assert on wall-clock time

StartPair = Callable[..., tuple[BrokerSimulator, UpstreamClient]]


@pytest.fixture
def start_pair(tmp_path: Path) -> Iterator[StartPair]:
    """Start a broker simulator and a client logged on to it; stop both afterwards."""
    running: list[BrokerSimulator | UpstreamClient] = []

    def start(
        client: dict[str, Any] | None = None, **broker: Any
    ) -> tuple[BrokerSimulator, UpstreamClient]:
        port = free_port()
        broker_options = BrokerSimOptions(
            sessions_dir=tmp_path / "broker",
            port=port,
            target_comp_ids=["CLIENT1"],
            seed=7,
            **broker,
        )
        simulator = BrokerSimulator(broker_options)
        simulator.start()
        running.append(simulator)
        client_options = ClientOptions(
            sessions_dir=tmp_path / "client",
            port=port,
            sender_comp_id="CLIENT1",
            target_comp_id=broker_options.sender_comp_id,
            seed=11,
            timeout=WAIT,
            **(client or {}),
        )
        upstream = UpstreamClient(client_options)
        upstream.start()
        running.append(upstream)
        assert upstream.wait_logged_on(WAIT), "client did not log on to the broker simulator"
        return simulator, upstream

    yield start
    for engine in reversed(running):
        engine.stop()


def reports(client: UpstreamClient, cl_ord_id: str, msg_type: str = "8") -> list[Received]:
    return [r for r in client.order(cl_ord_id).reports if r.msg_type == msg_type]


def wait_status(client: UpstreamClient, cl_ord_id: str, status: str) -> None:
    assert client.wait_for(lambda: client.order(cl_ord_id).status == status, WAIT), (
        f"{cl_ord_id} never reached OrdStatus {status}: {client.order(cl_ord_id).status}"
    )


def wait_cancel_reject(client: UpstreamClient, cl_ord_id: str) -> Received:
    assert client.wait_for(lambda: bool(reports(client, cl_ord_id, "9")), WAIT)
    return reports(client, cl_ord_id, "9")[-1]


def test_immediate_mode_fills_twenty_orders_completely(start_pair: StartPair) -> None:
    # Arrange
    broker, client = start_pair(client={"orders": 20}, fill_mode="immediate")

    # Act
    summary = client.run()

    # Assert
    assert summary["sent"] == 20
    assert summary["filled"] == 20
    assert summary["outstanding"] == 0
    assert summary["protocol_errors"] == 0, summary["protocol_error_samples"]
    for cl_ord_id, final in summary["orders"].items():
        assert final["status"] == "Filled"
        assert final["cum_qty"] == final["order_qty"] > 0
        assert final["leaves_qty"] == 0
        order = client.order(cl_ord_id)
        expected_px = order.price if order.ord_type == "2" else Decimal("100")
        assert final["avg_px"] == expected_px
        assert [r.exec_type for r in reports(client, cl_ord_id)] == ["0", "F"]
    assert summary["latency_ms"]["ack"]["count"] == 20
    assert summary["latency_ms"]["fill"]["count"] == 20
    assert broker.counters.orders_received == 20
    assert broker.counters.fills_sent == 20


def test_partial_fills_sum_exactly_to_order_qty(start_pair: StartPair) -> None:
    # Arrange
    broker, client = start_pair(
        client={"orders": 0}, fill_mode="partial", partial_fills=3, fill_interval=0.02
    )
    quantities = [Decimal("100"), Decimal("101"), Decimal("2"), Decimal("10.5"), Decimal("7")]

    # Act
    ids = [client.send_order(qty=qty, ord_type="2", price=Decimal("12.34")) for qty in quantities]
    assert client.wait_done(WAIT)

    # Assert
    for cl_ord_id, qty in zip(ids, quantities, strict=True):
        trades = [r for r in reports(client, cl_ord_id) if r.exec_type == "F"]
        assert sum(r.last_qty for r in trades) == qty
        assert len(trades) == min(3, int(qty))  # 2 lots cannot be split three ways
        assert [r.ord_status for r in trades] == ["1"] * (len(trades) - 1) + ["2"]
        assert trades[-1].cum_qty == qty and trades[-1].leaves_qty == 0
        assert all(r.last_px == Decimal("12.34") for r in trades)
    assert client.summary()["protocol_errors"] == 0
    assert broker.counters.orders_filled == len(quantities)


def test_reject_rate_one_rejects_every_order(start_pair: StartPair) -> None:
    # Arrange
    broker, client = start_pair(client={"orders": 10}, reject_rate=1.0)

    # Act
    summary = client.run()

    # Assert
    assert summary["rejected"] == 10
    assert summary["filled"] == 0 and summary["outstanding"] == 0
    assert summary["protocol_errors"] == 0, summary["protocol_error_samples"]
    for cl_ord_id in summary["orders"]:
        (reject,) = reports(client, cl_ord_id)
        assert (reject.exec_type, reject.ord_status) == ("8", "8")
        assert reject.leaves_qty == 0 and reject.cum_qty == 0
        assert reject.text
    assert broker.counters.rejects_sent == 10


def test_cancel_accepted_reports_canceled_with_both_clordids(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(fill_mode="none")
    cl_ord_id = client.send_order(qty=500, ord_type="2", price=Decimal("50.25"))
    wait_status(client, cl_ord_id, "0")

    # Act
    cancel_id = client.cancel(cl_ord_id)
    wait_status(client, cl_ord_id, "4")

    # Assert
    canceled = reports(client, cl_ord_id)[-1]
    assert canceled.exec_type == "4"
    assert canceled.cl_ord_id == cancel_id
    assert canceled.orig_cl_ord_id == cl_ord_id
    assert canceled.leaves_qty == 0 and canceled.cum_qty == 0
    assert client.summary()["canceled"] == 1


def test_cancel_denied_by_broker_option_leaves_order_working(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(fill_mode="none", cancel_policy="deny")
    cl_ord_id = client.send_order(qty=500, ord_type="1")
    wait_status(client, cl_ord_id, "0")

    # Act
    cancel_id = client.cancel(cl_ord_id)
    reject = wait_cancel_reject(client, cl_ord_id)

    # Assert
    assert reject.cl_ord_id == cancel_id and reject.orig_cl_ord_id == cl_ord_id
    assert reject.cxl_rej_reason == "2"
    assert reject.ord_status == "0"
    assert client.order(cl_ord_id).status == "0"
    assert client.summary()["cancel_rejects"] == 1


def test_cancel_of_filled_order_is_rejected_as_too_late(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(fill_mode="immediate")
    cl_ord_id = client.send_order(qty=100, ord_type="1")
    wait_status(client, cl_ord_id, "2")

    # Act
    client.cancel(cl_ord_id)
    reject = wait_cancel_reject(client, cl_ord_id)

    # Assert
    assert reject.cxl_rej_reason == "0"
    assert reject.ord_status == "2"


def test_cancel_of_order_the_broker_never_accepted_is_rejected_as_unknown(
    start_pair: StartPair,
) -> None:
    # Arrange: a rejected order is not on the broker's book
    _, client = start_pair(reject_rate=1.0)
    cl_ord_id = client.send_order(qty=100, ord_type="1")
    wait_status(client, cl_ord_id, "8")

    # Act
    client.replace(cl_ord_id, qty=200)
    reject = wait_cancel_reject(client, cl_ord_id)

    # Assert
    assert reject.cxl_rej_reason == "1"
    assert reject.ord_status == "8"
    assert reject.order_id == "NONE"


def test_replace_accepted_keeps_filling_against_new_qty(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(fill_mode="partial", partial_fills=2, fill_interval=0.3)
    cl_ord_id = client.send_order(qty=100, ord_type="2", price=Decimal("20.00"))
    wait_status(client, cl_ord_id, "0")

    # Act
    replace_id = client.replace(cl_ord_id, qty=300, price=Decimal("20.50"))
    wait_status(client, cl_ord_id, "2")

    # Assert
    (replaced,) = [r for r in reports(client, cl_ord_id) if r.exec_type == "5"]
    assert replaced.cl_ord_id == replace_id and replaced.orig_cl_ord_id == cl_ord_id
    assert replaced.order_qty == 300
    trades = [r for r in reports(client, cl_ord_id) if r.exec_type == "F"]
    assert sum(r.last_qty for r in trades) == 300
    final = client.summary()["orders"][cl_ord_id]
    assert final["cl_ord_id"] == replace_id
    assert final["order_qty"] == final["cum_qty"] == 300
    assert client.summary()["replaced"] == 1
    assert client.summary()["protocol_errors"] == 0


def test_replace_denied_keeps_original_order(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(fill_mode="none", replace_policy="deny")
    cl_ord_id = client.send_order(qty=200, ord_type="2", price=Decimal("30.00"))
    wait_status(client, cl_ord_id, "0")

    # Act
    replace_id = client.replace(cl_ord_id, qty=400)
    reject = wait_cancel_reject(client, cl_ord_id)

    # Assert
    assert reject.cl_ord_id == replace_id and reject.orig_cl_ord_id == cl_ord_id
    assert reject.cxl_rej_reason == "2"
    order = client.order(cl_ord_id)
    assert order.order_qty == 200 and order.current_cl_ord_id == cl_ord_id
    assert order.status == "0"


def test_unsolicited_cancels_carry_current_clordid_and_no_origclordid(
    start_pair: StartPair,
) -> None:
    # Arrange
    broker, client = start_pair(
        client={"orders": 5},
        fill_mode="none",
        unsolicited_cancel_rate=1.0,
        unsolicited_cancel_delay=0.05,
    )

    # Act
    summary = client.run()

    # Assert
    assert summary["canceled"] == 5 and summary["outstanding"] == 0
    for cl_ord_id in summary["orders"]:
        canceled = reports(client, cl_ord_id)[-1]
        assert canceled.exec_type == "4" and canceled.ord_status == "4"
        assert canceled.cl_ord_id == cl_ord_id
        assert canceled.orig_cl_ord_id is None
    assert broker.counters.unsolicited_cancels_sent == 5


def test_status_request_is_answered_with_exec_type_i(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(fill_mode="none")
    cl_ord_id = client.send_order(qty=300, ord_type="1")
    wait_status(client, cl_ord_id, "0")

    # Act
    client.status(cl_ord_id)
    assert client.wait_for(lambda: len(reports(client, cl_ord_id)) == 2, WAIT)

    # Assert
    status = reports(client, cl_ord_id)[-1]
    assert (status.exec_type, status.ord_status) == ("I", "0")
    assert status.leaves_qty == 300 and status.cum_qty == 0


def test_configured_flow_cancels_and_replaces_a_share_of_orders(start_pair: StartPair) -> None:
    # Arrange
    _, client = start_pair(
        client={"orders": 20, "cancel_ratio": 0.25, "replace_ratio": 0.25},
        fill_mode="partial",
        partial_fills=2,
        fill_interval=0.2,
    )

    # Act
    summary = client.run()

    # Assert
    assert summary["outstanding"] == 0
    assert summary["canceled"] == 5
    assert summary["replaced"] == 5
    assert summary["filled"] == 15
    assert summary["protocol_errors"] == 0, summary["protocol_error_samples"]
    for final in summary["orders"].values():
        if final["status"] == "Filled":
            assert final["cum_qty"] == final["order_qty"]


def test_replace_then_cancel_follow_up_replaces_once_acked_then_cancels(
    start_pair: StartPair,
) -> None:
    # Arrange: the broker acks and never fills
    broker, client = start_pair(client={"orders": 0}, fill_mode="none")

    # Act
    cl_ord_id = client.send_order(qty=100, ord_type="1", follow_up="replace_cancel")
    wait_status(client, cl_ord_id, "4")

    # Assert: New, Replaced (to 150), then Canceled under the replace's ClOrdID
    order = client.order(cl_ord_id)
    assert [r.exec_type for r in reports(client, cl_ord_id)] == ["0", "5", "4"]
    assert order.replaces == 1 and order.order_qty == 150 and order.acks == 1
    assert client.wait_done(WAIT)
    assert broker.counters.replaces_received == 1 and broker.counters.cancels_received == 1


def test_replace_then_cancel_still_cancels_when_the_replace_is_refused(
    start_pair: StartPair,
) -> None:
    # Arrange
    _, client = start_pair(client={"orders": 0}, fill_mode="none", replace_policy="deny")

    # Act
    cl_ord_id = client.send_order(qty=100, ord_type="1", follow_up="replace_cancel")
    wait_status(client, cl_ord_id, "4")

    # Assert
    assert len(reports(client, cl_ord_id, "9")) == 1
    assert client.order(cl_ord_id).replaces == 0
    assert client.wait_done(WAIT)


def test_broker_book_and_client_record_agree_fill_by_fill(start_pair: StartPair) -> None:
    # Arrange
    broker, client = start_pair(
        client={"orders": 0}, fill_mode="partial", partial_fills=2, fill_interval=0.02
    )

    # Act
    filled = client.send_order(qty=100, ord_type="2", price=Decimal("10"))
    replaced = client.send_order(qty=100, ord_type="1", follow_up="replace")
    assert client.wait_done(WAIT)

    # Assert: the book holds each order's chain and fills, as the client received them
    book = broker.book()
    by_first = {o["cl_ord_ids"][0]: o for o in book["orders"].values()}
    for cl_ord_id in (filled, replaced):
        order = client.order(cl_ord_id)
        booked = by_first[cl_ord_id]
        assert booked["cum_qty"] == order.cum_qty == order.fills_qty
        assert booked["fills"] == order.fills
        assert booked["cl_ord_ids"][-1] == order.current_cl_ord_id
    assert len(by_first[replaced]["cl_ord_ids"]) == 2
    assert set(book["children"]) == {filled, replaced, client.order(replaced).current_cl_ord_id}
    assert all(sum(kinds.values()) == 1 for kinds in book["children"].values())
    assert client.duplicate_exec_ids == 0


def test_broker_book_counts_a_clordid_sent_twice_even_when_refused(
    start_pair: StartPair,
) -> None:
    # Arrange: a raw D sent twice with one ClOrdID while the first is still working
    broker, client = start_pair(client={"orders": 0}, fill_mode="none")
    from oms.sim.client import _message

    fields = [(11, "TWICE-1"), (55, "IBM"), (54, "1"), (60, "20240102-13:14:15.123"),
              (38, "100"), (40, "1"), (59, "0")]

    # Act
    client._send(_message("D", fields))
    client._send(_message("D", fields))

    # Assert: the second is refused, and still counted as a second arrival of the ClOrdID
    assert client.wait_for(lambda: len(broker.book()["orders"]) == 2, WAIT)
    book = broker.book()
    assert book["children"]["TWICE-1"] == {"D": 2}
    assert sorted(o["status"] for o in book["orders"].values()) == ["0", "8"]


def test_run_client_prints_final_counts(tmp_path: Path) -> None:
    # Arrange
    port = free_port()
    broker = BrokerSimulator(
        BrokerSimOptions(sessions_dir=tmp_path / "broker", port=port, target_comp_ids=["CLIENT1"])
    )
    options = ClientOptions(
        sessions_dir=tmp_path / "client",
        port=port,
        target_comp_id="BROKER1",
        orders=5,
        verbose=True,
        timeout=WAIT,
        logon_timeout=WAIT,
    )
    output = io.StringIO()
    broker.start()
    try:
        # Act
        summary = run_client(options, Console(file=output, width=120))
    finally:
        broker.stop()

    # Assert
    assert summary["filled"] == 5
    text = output.getvalue()
    assert "filled" in text and "Latency" in text
    assert text.count("8 ExecType=F") == 5
