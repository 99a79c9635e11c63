"""#19: a routing rule matches an order that meets every condition it has."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.domain.enums import OrdType, Side
from oms.domain.order import Order
from oms.routing.rules import Rule


def order(symbol: str = "AAPL", qty: str = "100", account: str = "ACC1",
          ex_destination: str = "") -> Order:
    return Order(order_id="O1", session="S", cl_ord_id="C1", symbol=symbol, side=Side.BUY,
                 ord_type=OrdType.MARKET, order_qty=Decimal(qty), account=account,
                 ex_destination=ex_destination)


@pytest.mark.parametrize(("rule", "matching", "not_matching"), [
    (Rule("B", ex_destination="XNAS"), order(ex_destination="XNAS"), order()),
    (Rule("B", symbol="AA*"), order("AAL"), order("BAA")),
    (Rule("B", symbol="[AB]?"), order("BX"), order("ABC")),
    (Rule("B", symbol="aapl"), order("aapl"), order("AAPL")),  # case counts
    (Rule("B", account="ACC2"), order(account="ACC2"), order()),
    (Rule("B", min_qty=Decimal(100)), order(qty="100"), order(qty="99.99")),
    (Rule("B", max_qty=Decimal(100)), order(qty="100"), order(qty="100.01")),
    (Rule("B", symbol="AA*", min_qty=Decimal(500)), order("AAPL", "500"), order("AAPL", "499")),
    (Rule("B"), order(), None),
], ids=["ex_destination", "symbol prefix", "symbol class", "symbol case", "account",
        "min_qty", "max_qty", "every condition", "no condition"])
def test_a_rule_matches_an_order_meeting_all_its_conditions(
        rule: Rule, matching: Order, not_matching: Order | None) -> None:
    assert rule.matches(matching)
    if not_matching is not None:
        assert not rule.matches(not_matching)
