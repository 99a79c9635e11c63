"""The independent load client's reading of what comes back (``oms.bench.rawclient``).

Messages are built with simplefix as a server would send them and handed to the client's
handler with a receive time; the client's own sending is not involved (no socket).
"""

from __future__ import annotations

from decimal import Decimal

import simplefix

from oms.bench.rawclient import RawLoadClient, RawOptions, _Order


def _message(seq: int, msg_type: str, *fields: tuple[int, str], sender: str = "OMS",
             target: str = "CLIENT1") -> simplefix.FixMessage:
    message = simplefix.FixMessage()
    message.append_pair(8, "FIX.4.4", header=True)
    message.append_pair(35, msg_type, header=True)
    message.append_pair(49, sender, header=True)
    message.append_pair(56, target, header=True)
    message.append_pair(34, seq, header=True)
    for tag, value in fields:
        message.append_pair(tag, value)
    # as it comes off the wire: what the client reads is the parser's output
    parser = simplefix.FixParser()
    parser.append_buffer(message.encode())
    parsed = parser.get_message()
    assert parsed is not None
    return parsed


def _report(seq: int, cl_ord_id: str, exec_id: str, exec_type: str, status: str, cum: str,
            leaves: str, last_qty: str = "0") -> simplefix.FixMessage:
    return _message(seq, "8", (37, "O1"), (11, cl_ord_id), (17, exec_id), (150, exec_type),
                    (39, status), (55, "IBM"), (54, "1"), (14, cum), (151, leaves), (6, "10"),
                    (32, last_qty), (31, "10"))


def _client_with_order(qty: str = "100", sent_at: float = 1.0) -> RawLoadClient:
    client = RawLoadClient(RawOptions())
    client.orders[b"C1"] = _Order(qty=Decimal(qty), sent_at=sent_at)
    return client


def test_ack_and_fill_times_are_the_receive_times_of_new_and_filled() -> None:
    # Arrange
    client = _client_with_order(sent_at=1.0)

    # Act
    client._handle(_report(1, "C1", "E1", "0", "0", "0", "100"), 1.002)
    client._handle(_report(2, "C1", "E2", "F", "1", "40", "60", "40"), 1.003)
    client._handle(_report(3, "C1", "E3", "F", "2", "100", "0", "60"), 1.005)

    # Assert
    order = client.orders[b"C1"]
    assert order.acked_at == 1.002 and order.done_at == 1.005
    assert (client.done, client.filled, client.rejected) == (1, 1, 0)
    assert client.protocol_errors == 0, client.error_samples


def test_a_reject_acks_and_ends_the_order() -> None:
    # Arrange
    client = _client_with_order()

    # Act
    client._handle(_report(1, "C1", "E1", "8", "8", "0", "0"), 1.5)

    # Assert
    assert client.orders[b"C1"].acked_at == 1.5
    assert (client.done, client.filled, client.rejected) == (1, 0, 1)
    assert client.protocol_errors == 0


def test_wrong_quantities_unknown_orders_repeats_and_gaps_are_protocol_errors() -> None:
    # Arrange
    client = _client_with_order(qty="100")

    # Act
    client._handle(_report(1, "C1", "E1", "F", "1", "50", "60", "50"), 2.0)  # 50+60 > 100
    client._handle(_report(2, "C1", "E2", "F", "1", "70", "30", "10"), 2.1)  # 70 != 50+10
    client._handle(_report(3, "C1", "E2", "F", "1", "70", "30", "10"), 2.2)  # ExecID again
    client._handle(_report(4, "XX", "E4", "0", "0", "0", "100"), 2.3)  # never sent
    client._handle(_report(6, "C1", "E5", "0", "1", "70", "30"), 2.4)  # 5 is missing
    client._handle(_message(7, "3", (45, "2"), (58, "bad tag")), 2.5)  # session Reject
    client._handle(_message(8, "0", sender="SOMEONE"), 2.6)  # not the server's CompID
    client._handle(_message(9, "8", (37, "O1"), (11, "C1"), (17, "E6"), (150, "0"),
                            (39, "0"), (14, "0"), (151, "100")), 2.7)  # no 55, 54, 6

    # Assert
    assert client.protocol_errors == 8, client.error_samples
    samples = " ".join(client.error_samples)
    for expected in ("LeavesQty", "sum of LastQty", "repeated ExecID", "unknown ClOrdID",
                     "MsgSeqNum 6, expected 5", "bad tag", "CompIDs",
                     "lacks required tags [55, 54, 6]"):
        assert expected in samples, expected
    assert client.done == 0  # nothing reached a final status


def test_a_possible_duplicate_report_is_ignored_without_an_error() -> None:
    # Arrange
    client = _client_with_order()
    client._handle(_report(1, "C1", "E1", "F", "2", "100", "0", "100"), 1.0)
    resent = _report(1, "C1", "E1", "F", "2", "100", "0", "100")
    resent.append_pair(43, "Y", header=True)

    # Act
    client._handle(resent, 1.1)

    # Assert
    assert client.protocol_errors == 0, client.error_samples
    assert client.done == 1 and client.orders[b"C1"].fills == Decimal(100)
