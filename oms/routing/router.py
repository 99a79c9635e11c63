"""The ``Router``: routing rules, ExDestination, the default route; then the first session
of the chosen broker that is up (#19).

Which broker: the rules in their order (``oms.routing.rules``), then the client's
ExDestination (100) through ``destinations`` or a broker of that name, then the default
route. Every broker one of them names is a candidate, in that order; the order goes to the
first candidate with a session up (``SessionHealth``), on the first of its sessions that is
up: the primary when it is, else the next in the config's order, and back to the primary
for new orders as soon as it is up again. Orders already sent stay on their session.

An order with an ExDestination nothing knows, or with no candidate at all, or whose
candidates have no session up, is refused with a reason for the client, never held.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from oms.app.ports import Route, SessionHealth
from oms.domain.order import Order
from oms.routing.rules import Rule


class ConfigRouter:
    """``Router`` from the config's ``[routing]`` and ``[[brokers]]``, and session health."""

    def __init__(self, routes: dict[str, Route], health: SessionHealth, *,
                 destinations: dict[str, str] | None = None, default_route: str = "",
                 rules: Sequence[Rule] = ()) -> None:
        self.routes = routes  # broker name -> its route on its primary session
        self.health = health
        self.destinations = destinations or {}  # ExDestination -> broker name
        self.default_route = default_route
        self.rules = tuple(rules)
        # broker name -> its route on each of its sessions, in priority order
        self._by_priority = {name: [replace(route, session=session)
                                    for session in route.sessions or (route.session,)]
                             for name, route in routes.items()}
        # session key -> the routes of the brokers it is a session of
        self._by_session: dict[str, list[Route]] = {}
        for route in routes.values():
            for session in route.sessions or (route.session,):
                self._by_session.setdefault(session, []).append(route)

    def route(self, order: Order) -> Route | str:
        tried: list[str] = []
        for name in self._candidates(order):
            if name in tried:
                continue
            tried.append(name)
            for route in self._by_priority[name]:
                if self.health.is_up(route.session):
                    return route
        if tried:
            return (f"Broker {tried[0]} is not connected" if len(tried) == 1 else
                    f"Brokers {', '.join(tried)} are not connected")
        if order.ex_destination:
            return f"Unknown ExDestination (100) {order.ex_destination}"
        if self.rules:
            return "No routing rule matches the order and no default route is configured"
        return "No ExDestination (100) and no default route configured"

    def _candidates(self, order: Order) -> Iterator[str]:
        """The brokers that may take the order, best first."""
        for rule in self.rules:
            if rule.matches(order):
                yield rule.broker
        if order.ex_destination:
            name = self.destinations.get(order.ex_destination, order.ex_destination)
            if name in self.routes:
                yield name
            return  # an ExDestination no rule or mapping knows never takes the default
        if self.default_route:
            yield self.default_route

    def route_named(self, name: str) -> Route | None:
        return self.routes.get(name)

    def routes_on(self, session: str) -> list[Route]:
        return self._by_session.get(session, [])
