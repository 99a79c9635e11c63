"""The ``Router`` and ``SessionHealth`` of today, on their own."""

from __future__ import annotations

from decimal import Decimal

from oms.app.ports import Route
from oms.domain.enums import OrdType, Side
from oms.domain.order import Order
from oms.routing.health import SessionStates
from oms.routing.router import ConfigRouter
from oms.routing.rules import Rule

SIM = Route("SIM", "FIX.4.4:OMS->BROKER1")
ALT = Route("ALT", "FIX.4.4:OMS->BROKER2", account="HOUSE")


def _order(ex_destination: str = "") -> Order:
    return Order(order_id="O1", session="S", cl_ord_id="C1", symbol="ACME", side=Side.BUY,
                 ord_type=OrdType.MARKET, order_qty=Decimal(1), ex_destination=ex_destination)


def _router(*up: str, default_route: str = "SIM") -> ConfigRouter:
    return ConfigRouter({"SIM": SIM, "ALT": ALT}, SessionStates(up),
                        destinations={"XNYS": "ALT"}, default_route=default_route)


def test_an_order_without_exdestination_takes_the_default_route():
    assert _router(SIM.session).route(_order()) == SIM


def test_exdestination_picks_the_mapped_broker_or_the_broker_of_that_name():
    router = _router(SIM.session, ALT.session)

    assert router.route(_order("XNYS")) == ALT
    assert router.route(_order("SIM")) == SIM


def test_no_route_says_why():
    assert _router(SIM.session).route(_order("XLON")) == "Unknown ExDestination (100) XLON"
    assert _router(SIM.session, default_route="").route(_order()) == \
        "No ExDestination (100) and no default route configured"


def test_a_broker_whose_session_is_down_is_not_chosen():
    assert _router().route(_order()) == "Broker SIM is not connected"


def test_routes_by_name_and_by_session():
    router = _router()

    assert router.route_named("ALT") == ALT
    assert router.route_named("NOPE") is None
    assert router.routes_on(ALT.session) == [ALT]


def test_session_health_follows_logons_and_logouts():
    health = SessionStates(["A"])

    health.logged_on("B")
    health.logged_out("A")

    assert (health.is_up("A"), health.is_up("B"), health.is_up("C")) == (False, True, False)


# --- #19: rules and failover between a broker's sessions -------------------------------
GS1, GS2 = "FIX.4.4:OMS->GSFIX", "FIX.4.4:OMS2->GSFIX2"
MS = "FIX.4.4:OMS->MSFIX"
GS = Route("GS", GS1, "HOUSE", (GS1, GS2))
MSR = Route("MS", MS)


def _failover_router(health: SessionStates, *rules: Rule, default_route: str = "GS") -> ConfigRouter:
    return ConfigRouter({"GS": GS, "MS": MSR}, health, default_route=default_route,
                        rules=rules)


def _big(symbol: str = "ACME", qty: str = "1", ex_destination: str = "") -> Order:
    return Order(order_id="O1", session="S", cl_ord_id="C1", symbol=symbol, side=Side.BUY,
                 ord_type=OrdType.MARKET, order_qty=Decimal(qty), ex_destination=ex_destination)


def test_a_new_order_goes_to_the_primary_then_the_backup_then_back_to_the_primary():
    health = SessionStates([GS1, GS2])
    router = _failover_router(health)

    first = router.route(_big())
    health.logged_out(GS1)
    during = router.route(_big())
    health.logged_on(GS1)
    after = router.route(_big())

    assert first == Route("GS", GS1, "HOUSE", (GS1, GS2))
    assert during == Route("GS", GS2, "HOUSE", (GS1, GS2))
    assert after == first
    assert router.routes_on(GS2) == [GS] and router.routes_on(GS1) == [GS]
    assert router.route_named("GS") == GS


def test_a_broker_with_no_session_up_is_refused_at_once():
    assert _failover_router(SessionStates([MS])).route(_big()) == "Broker GS is not connected"


def test_the_first_matching_rule_wins_and_a_later_one_is_the_fallback():
    health = SessionStates([GS1, MS])
    router = _failover_router(health, Rule("MS", symbol="AA*"), Rule("GS", min_qty=Decimal(10)))

    assert router.route(_big("AAPL", "50")).name == "MS"
    assert router.route(_big("IBM", "50")).name == "GS"
    assert router.route(_big("IBM", "5")).name == "GS"  # the default route
    health.logged_out(MS)
    assert router.route(_big("AAPL", "50")).name == "GS"  # the next rule that matches
    assert router.route(_big("AAPL", "5")).name == "GS"  # the default route
    health.logged_out(GS1)
    assert router.route(_big("AAPL", "50")) == "Brokers MS, GS are not connected"


def test_a_rule_by_exdestination_comes_before_the_mapping_and_an_unknown_one_is_refused():
    router = ConfigRouter({"GS": GS, "MS": MSR}, SessionStates([GS1, MS]),
                          destinations={"XNAS": "GS"}, rules=[Rule("MS", ex_destination="XNAS")])

    assert router.route(_big(ex_destination="XNAS")).name == "MS"
    assert router.route(_big(ex_destination="XLON")) == "Unknown ExDestination (100) XLON"
    assert router.route(_big()) == \
        "No routing rule matches the order and no default route is configured"


def test_a_session_whose_testrequest_waits_for_an_answer_takes_no_new_orders():
    health = SessionStates([GS1, GS2])
    router = _failover_router(health)

    health.unanswered(GS1)
    during = router.route(_big())
    health.answered(GS1)
    after = router.route(_big())
    health.unanswered(GS2)
    health.logged_out(GS2)
    health.logged_on(GS2)  # a new connection owes no answer

    assert during.session == GS2 and after.session == GS1
    assert health.is_up(GS2) and not health.is_unanswered(GS2)
    health.unanswered("FIX.4.4:OMS->NOBODY")  # not logged on: nothing changes
    assert not health.is_up("FIX.4.4:OMS->NOBODY")
