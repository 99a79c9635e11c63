"""The ``RiskGate`` of today (``oms.risk.checks.FieldChecks``), on its own: what it lets
through and why it refuses. The core's tests show the same refusals on the wire."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.app.ports import Denial
from oms.domain.enums import OrdType, Side
from oms.domain.order import ChildOrder, Order, Trigger
from oms.risk.checks import FieldChecks
from tests.unit.app.harness import broker_report, cancel_order, replace_order, submit_order

D = Decimal


def _order(**overrides: object) -> Order:
    values: dict[str, object] = dict(order_id="O1", session="S", cl_ord_id="C1", symbol="ACME",
                                     side=Side.BUY, ord_type=OrdType.LIMIT, order_qty=D(100),
                                     price=D(10))
    values.update(overrides)
    return Order(**values)  # type: ignore[arg-type]


def test_a_well_formed_order_passes():
    assert FieldChecks().check_new(submit_order(), _order()) is None


@pytest.mark.parametrize(
    ("fields", "denial"),
    [
        ({"symbol": ""}, Denial("Symbol (55) is required", "99")),
        ({"side": "Z"}, Denial("Side (54) 'Z' is not supported", "99")),
        ({"order_qty": None}, Denial("OrderQty (38) is required", "13")),
        ({"order_qty": D(-1)}, Denial("OrderQty (38) must be positive, got -1", "13")),
        ({"price": None}, Denial("Price (44) is required for a limit order", "99")),
        ({"error": "Bad field"}, Denial("Bad field", "99")),
    ],
    ids=["no symbol", "bad side", "no quantity", "negative quantity", "no price", "FIX error"],
)
def test_a_malformed_order_is_denied_with_its_reason_and_code(fields, denial):
    assert FieldChecks().check_new(submit_order(**fields), _order()) == denial


def test_symbols_and_digits_come_from_the_configuration():
    checks = FieldChecks(max_digits=4, symbols=frozenset({"ACME"}))

    assert checks.check_new(submit_order(symbol="OTHER"), _order()) == \
        Denial("Unknown symbol OTHER", "1")
    assert checks.check_new(submit_order(order_qty=D("12345")), _order()) == \
        Denial("OrderQty (38) has more than 4 significant digits", "13")


def test_a_cancel_must_name_the_order_side_and_symbol():
    checks = FieldChecks()

    assert checks.check_amend(cancel_order(), _order()) == ""
    assert checks.check_amend(cancel_order(side="2"), _order()) == \
        "Side (54) 2 does not match the order"
    assert checks.check_amend(cancel_order(symbol="X"), _order()) == \
        "Symbol (55) X does not match the order"


def test_a_replace_may_not_go_below_the_filled_quantity():
    order = _order()
    order.route_to(ChildOrder("K1", "O1", "SIM", "S2", "K1", D(100)))
    order.apply(Trigger.ACCEPT)
    order.fill("E1", D(60), D(10))

    assert FieldChecks().check_replace(replace_order(order_qty=D(80)), order) == ""
    assert FieldChecks().check_replace(replace_order(order_qty=D(50)), order) == \
        "OrderQty (38) 50 is below the quantity already filled (60)"


def test_a_broker_report_with_too_many_digits_is_named():
    report = broker_report("K1", "F", "X1", last_qty="1.0000000000000001", last_px="10")

    assert FieldChecks().check_report(report) == \
        "LastQty (32) has more than 15 significant digits"
    assert FieldChecks().check_report(broker_report("K1", "F", "X2", last_qty="1",
                                                    last_px="10")) == ""
