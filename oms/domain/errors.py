"""The OMS error hierarchy: one base class, one subclass per concern."""

from __future__ import annotations


class OmsError(Exception):
    """Base class of every error the OMS raises on purpose."""


class ValidationError(OmsError):
    """An inbound request is malformed or semantically invalid."""


class InvalidStateTrigger(OmsError):
    """An order was asked to make a move its state table does not allow."""

    def __init__(self, state: str, trigger: str, order_id: str = "") -> None:
        self.state = state
        self.trigger = trigger
        self.order_id = order_id
        where = f" (order {order_id})" if order_id else ""
        super().__init__(f"{state} -> {trigger}{where}")


class Overfill(OmsError):
    """A fill would take CumQty above OrderQty."""


class UnknownExecution(OmsError):
    """A trade bust or correction refers to an ExecID we never booked."""


class RiskDenied(OmsError):
    """A pre-trade risk check refused the order."""


class RoutingError(OmsError):
    """No broker session can take the order."""


class StoreError(OmsError):
    """The blotter could not be written or read."""


class ConfigError(OmsError):
    """The configuration is invalid."""
