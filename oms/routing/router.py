"""The ``Router`` of today: the client's ExDestination, or the default route.

An order naming an ExDestination goes to the broker the config maps it to (or the broker
of that name); one naming none goes to the default route. Either way the broker's session
must be up, as ``SessionHealth`` knows it; failing over between sessions (#19) is for a
router of its own.
"""

from __future__ import annotations

from oms.app.ports import Route, SessionHealth
from oms.domain.order import Order


class ConfigRouter:
    """``Router`` from the config's ``[routing]`` rules and the sessions' health."""

    def __init__(self, routes: dict[str, Route], health: SessionHealth, *,
                 destinations: dict[str, str] | None = None, default_route: str = "") -> None:
        self.routes = routes  # broker name -> route
        self.health = health
        self.destinations = destinations or {}  # ExDestination -> broker name
        self.default_route = default_route

    def route(self, order: Order) -> Route | str:
        if order.ex_destination:
            name = self.destinations.get(order.ex_destination, order.ex_destination)
            if name not in self.routes:
                return f"Unknown ExDestination (100) {order.ex_destination}"
        else:
            name = self.default_route
            if not name:
                return "No ExDestination (100) and no default route configured"
        route = self.routes[name]
        if not self.health.is_up(route.session):
            return f"Broker {name} is not connected"
        return route

    def route_named(self, name: str) -> Route | None:
        return self.routes.get(name)

    def routes_on(self, session: str) -> list[Route]:
        return [route for route in self.routes.values() if route.session == session]
