"""The ``Router`` and ``SessionHealth`` of today, on their own."""

from __future__ import annotations

from decimal import Decimal

from oms.app.ports import Route
from oms.domain.enums import OrdType, Side
from oms.domain.order import Order
from oms.routing.health import SessionStates
from oms.routing.router import ConfigRouter

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
