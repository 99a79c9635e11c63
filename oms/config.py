"""The OMS configuration file (``fix_config/oms.toml``) as pydantic models.

Every CompID, host, port and route is here; the QuickFIX settings the engine needs are
generated from it (``oms.fix.settings``), so there is one place to edit.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from oms.domain.errors import ConfigError
from oms.fix.settings import passthrough, session_key
from oms.routing.rules import Rule

DEFAULT_CONFIG_PATH = Path("fix_config/oms.toml")


# [oms] options that were removed, and why: named in the error rather than "extra inputs
# are not permitted"
REMOVED_OMS_OPTIONS = {
    "journal": "the core always commits its own batches (the writer thread, "
               "journal = \"thread\", is gone)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _passthrough(value: object, where: str) -> object:
    """A ``settings`` table as QuickFIX text (anything else is left to pydantic to refuse)."""
    if isinstance(value, Mapping):
        return passthrough(value, where)
    return value


class FixEngineConfig(_Strict):
    """Settings shared by every FIX session of this process."""

    # "" = the FIX44.xml beside this config file, else the one the OMS ships
    # (fix_config/FIX44.xml), else quickfix's own; a relative path is relative to the
    # folder of the config file (``OmsConfig.data_dictionary_path``)
    data_dictionary: str = ""
    heartbeat_interval: int = Field(30, ge=1)
    socket_nodelay: bool = True  # quickfix defaults to N: Nagle delays every small message
    file_log: bool = False  # QuickFIX FileLog of every message (slower); the journal has them
    start_time: str = "00:00:00"  # session schedule, UTC
    end_time: str = "00:00:00"  # equal to start_time: the session never ends
    check_latency: bool = True  # reject SendingTime more than max_latency seconds off
    max_latency: int = Field(120, ge=1)
    persist_messages: bool = True  # keep sent messages so resend requests can be served
    # reject user-defined tags (5000-9999) the data dictionary does not define; add your
    # counterparties' custom tags to the dictionary, or turn this off
    validate_user_defined_fields: bool = True
    # #18: any other QuickFIX setting, for every session (a session's own ``settings`` win);
    # keys the OMS sets from the options above are refused (oms.fix.settings.OWNED_KEYS)
    settings: dict[str, str] = Field(default_factory=dict)

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: object) -> object:
        return _passthrough(value, "[fix.settings]")


class UpstreamSession(_Strict):
    """An acceptor session for an upstream client (PMS, EMS, strategy engine)."""

    sender_comp_id: str = "OMS"  # our CompID on this session
    target_comp_id: str  # the client's CompID
    port: int = Field(..., ge=1, le=65535)
    reset_on_logon: bool = False  # sequence numbers start at 1 on each logon (test suites)
    # Forget the ClOrdIDs seen for PossResend checks at each logon; only sessions whose
    # sequence numbers restart at logon need this (a resend cannot reach across a reset).
    use_data_dictionary: bool = True
    settings: dict[str, str] = Field(default_factory=dict)  # this session's own QuickFIX keys

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: object, info: ValidationInfo) -> object:
        return _passthrough(
            value, f"[[upstream]] {info.data.get('target_comp_id', '')} settings")


class BrokerSession(_Strict):
    """One FIX 4.4 initiator session to a broker; child orders are routed over it."""

    name: str = ""  # "" = the broker's name for its only session, else "<broker>-<n>"
    sender_comp_id: str = "OMS"
    target_comp_id: str
    host: str = "127.0.0.1"
    port: int = Field(..., ge=1, le=65535)
    reconnect_interval: int = Field(5, ge=1)
    reset_on_logon: bool = False
    settings: dict[str, str] = Field(default_factory=dict)  # this session's own QuickFIX keys

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: object, info: ValidationInfo) -> object:
        return _passthrough(value, f"[[brokers]] session {info.data.get('name', '')} settings")

    @property
    def key(self) -> str:
        """The session's key (``FIX.4.4:SENDER->TARGET``)."""
        return session_key(self.sender_comp_id, self.target_comp_id)


# the keys of a session that a broker with one session may give on [[brokers]] itself
_SESSION_KEYS = ("sender_comp_id", "target_comp_id", "host", "port", "reconnect_interval",
                 "reset_on_logon", "settings")


class Commission(_Strict):
    """#21: a broker's commission schedule, for fills whose report carries no Commission
    (12): per_share * qty + bps / 10,000 * qty * px, at least ``minimum`` per fill."""

    per_share: Decimal = Field(Decimal(0), ge=0)
    bps: Decimal = Field(Decimal(0), ge=0)
    minimum: Decimal = Field(Decimal(0), ge=0)


class Broker(_Strict):
    """A broker: one or more sessions in priority order, the first the primary (#19).

    The form of one session, its keys on ``[[brokers]]`` itself, is a broker whose only
    session has the broker's name."""

    name: str
    account: str = ""  # Account (1) to put on child orders when the upstream gave none
    sessions: list[BrokerSession] = Field(min_length=1)
    # a cancel or replace for an order whose session is down: sent through another of the
    # broker's sessions that is up (true; the broker must accept it there), else held until
    # the session is back, and refused to the client after hold_seconds
    cancel_via_backup: bool = False
    hold_seconds: float = Field(30.0, gt=0)
    # #21: fees of a fill when its report gives none (none: no fee)
    commission: Commission = Field(default_factory=Commission)

    @model_validator(mode="before")
    @classmethod
    def _one_session_form(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        inline = [key for key in _SESSION_KEYS if key in data]
        if not inline:
            return data
        name = data.get("name", "")
        if "sessions" in data:
            raise ValueError(f"[[brokers]] {name}: {', '.join(inline)} belong in its "
                             f"[[brokers.sessions]] when it has sessions")
        rest = {key: value for key, value in data.items() if key not in _SESSION_KEYS}
        return {**rest, "sessions": [{"name": name, **{key: data[key] for key in inline}}]}

    @model_validator(mode="after")
    def _session_names(self) -> Broker:
        for number, session in enumerate(self.sessions, 1):
            if not session.name:
                session.name = self.name if len(self.sessions) == 1 else f"{self.name}-{number}"
        return self

    @property
    def primary(self) -> BrokerSession:
        return self.sessions[0]


class DropCopySession(_Strict):
    """``[[drop_copies]]``: a broker's drop-copy session (#19): a copy (CopyMsgIndicator
    797=Y) of every ExecutionReport the broker booked for us, whoever sent the order, matched
    against our own fills (``oms.app.dropcopy``). It only ever receives: no order is sent on
    it and the router never knows it."""

    name: str
    broker: str  # the [[brokers]] name whose fills it copies
    # we connect to the broker ("initiator": host, port, reconnect_interval) or it connects
    # to us ("acceptor": port, where we listen)
    role: Literal["initiator", "acceptor"] = "initiator"
    sender_comp_id: str = "OMS"
    target_comp_id: str
    host: str = "127.0.0.1"
    port: int = Field(..., ge=1, le=65535)
    reconnect_interval: int = Field(5, ge=1)
    reset_on_logon: bool = False
    # how long a fill may go without its counterpart (ours without the broker's copy, the
    # copy without our fill) before it is a break; also the window of the last-resort match
    # by symbol, side, quantity and price
    grace_seconds: float = Field(60.0, gt=0)
    settings: dict[str, str] = Field(default_factory=dict)  # this session's own QuickFIX keys

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: object, info: ValidationInfo) -> object:
        return _passthrough(value, f"[[drop_copies]] {info.data.get('name', '')} settings")

    @model_validator(mode="after")
    def _acceptor_keys(self) -> DropCopySession:
        if self.role == "acceptor":
            given = [key for key in ("host", "reconnect_interval") if key in self.model_fields_set]
            if given:
                raise ValueError(f"[[drop_copies]] {self.name}: {', '.join(given)} only for "
                                 f"role = \"initiator\"; an acceptor takes only port")
        return self

    @property
    def key(self) -> str:
        """The session's key (``FIX.4.4:SENDER->TARGET``)."""
        return session_key(self.sender_comp_id, self.target_comp_id)


class RoutingRule(_Strict):
    """``[[routing.rules]]``: the broker for orders that meet every condition given (#19);
    the first rule that matches wins (``oms.routing.rules``)."""

    broker: str
    ex_destination: str | None = None  # ExDestination (100)
    symbol: str | None = None  # a pattern: "AAPL", "AA*", "[AB]*"
    account: str | None = None  # Account (1)
    min_qty: Decimal | None = Field(None, gt=0)  # OrderQty (38) at least
    max_qty: Decimal | None = Field(None, gt=0)  # OrderQty (38) at most

    @model_validator(mode="after")
    def _bounds(self) -> RoutingRule:
        if self.min_qty is not None and self.max_qty is not None and self.min_qty > self.max_qty:
            raise ValueError(f"routing rule for {self.broker}: min_qty {self.min_qty} is above "
                             f"max_qty {self.max_qty}")
        return self

    def rule(self) -> Rule:
        return Rule(self.broker, self.ex_destination, self.symbol, self.account, self.min_qty,
                    self.max_qty)


class RoutingConfig(_Strict):
    """How an order picks its broker: the rules, then ExDestination, then the default."""

    default_route: str = ""  # broker name used when nothing else places the order
    # ExDestination value -> broker name; a broker's own name always routes to it
    destinations: dict[str, str] = Field(default_factory=dict)
    rules: list[RoutingRule] = Field(default_factory=list)


class AdminConfig(_Strict):
    """The loopback admin interface that changes a running server."""

    host: str = "127.0.0.1"
    port: int = Field(9880, ge=0, le=65535)
    token_file: str = "admin.token"  # relative paths are under sessions_dir


class MarketDataConfig(_Strict):
    """#20: the market data book the core reads each order's arrival quote from."""

    # a quote older than this many seconds is stale (the order keeps it, marked stale)
    stale_after: float = Field(5.0, ge=0)
    # a CSV file of `symbol,close` lines: the previous close; "" = the last bar of the
    # previous day stored in the database. Relative paths are relative to base_dir
    previous_close_file: str = ""
    symbols: list[str] = Field(default_factory=list)  # empty: every symbol a source sends
    # "" = no tick files; else every quote and trade is appended to
    # ticks-YYYY-MM-DD.csv in this folder (the replay format)
    tick_file_dir: str = ""
    # a recorded file (CSV or parquet, oms.marketdata.replay) replayed into the book at
    # start, at replay_speed times the recorded pace (0: as fast as possible)
    replay_file: str = ""
    replay_speed: float = Field(1.0, ge=0)


class PositionsConfig(_Strict):
    """#21: the position keeper."""

    enabled: bool = True
    # the account an order that named none (Account, tag 1) books to; "": the order's own
    # empty account, as the blotter has it
    default_account: str = ""


class OmsSection(_Strict):
    database_url: str = "sqlite:///oms.db"
    sessions_dir: str = "sessions"
    log_level: str = "INFO"
    symbols: list[str] = Field(default_factory=list)  # empty: any symbol is accepted
    send_pending_new: bool = False  # send ExecType=PendingNew upstream before the broker acks
    max_batch: int = Field(500, ge=1)  # commands per group commit at most
    # #16: quantities and prices (38, 44, 99 from clients; 32, 31, 14, 38 from brokers)
    # with more digits than this, written out plainly (integer and fraction digits), are
    # refused. At most 28: Decimal computes with 28 significant digits and rounds beyond
    max_digits: int = Field(15, ge=1, le=28)
    # #16: after a broker logon, status queries (35=H) go out at most this many per interval
    status_query_batch: int = Field(100, ge=1)
    status_query_interval: float = Field(0.1, ge=0)  # seconds

    @model_validator(mode="before")
    @classmethod
    def _removed_options(cls, data: object) -> object:
        if isinstance(data, dict):
            for name, why in REMOVED_OMS_OPTIONS.items():
                if name in data:
                    raise ValueError(f"[oms] {name} is no longer an option: {why}; "
                                     f"delete the line")
        return data


class MarketDataSession(_Strict):
    """``[[marketdata_sessions]]`` (#20): a FIX 4.4 market-data session we connect to. It
    subscribes ``symbols`` at every logon (empty: every symbol the OMS has an order for,
    each subscribed as the OMS first sees it) and hands quotes and trades to the server's
    market-data sink on the FIX thread, never through the core (oms/fix/marketdata.py).
    Market data is not resent: sequence numbers restart at each logon by default, and a
    reconnect resubscribes."""

    name: str
    sender_comp_id: str = "OMS"
    target_comp_id: str
    host: str = "127.0.0.1"
    port: int = Field(..., ge=1, le=65535)
    reconnect_interval: int = Field(5, ge=1)
    reset_on_logon: bool = True
    symbols: list[str] = Field(default_factory=list)
    settings: dict[str, str] = Field(default_factory=dict)  # this session's own QuickFIX keys

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: object, info: ValidationInfo) -> object:
        return _passthrough(value, f"[[marketdata_sessions]] {info.data.get('name', '')} "
                                   f"settings")

    @property
    def key(self) -> str:
        """The session's key (``FIX.4.4:SENDER->TARGET``)."""
        return session_key(self.sender_comp_id, self.target_comp_id)


class OmsConfig(_Strict):
    """The whole file."""

    oms: OmsSection = Field(default_factory=OmsSection)
    fix: FixEngineConfig = Field(default_factory=FixEngineConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    upstream: list[UpstreamSession] = Field(default_factory=list)
    brokers: list[Broker] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    drop_copies: list[DropCopySession] = Field(default_factory=list)
    marketdata: MarketDataConfig = Field(default_factory=MarketDataConfig)
    positions: PositionsConfig = Field(default_factory=PositionsConfig)
    marketdata_sessions: list[MarketDataSession] = Field(default_factory=list)
    # where the file was read from; relative paths in it are relative to its folder's parent
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    # the folder of the file itself (None: not read from a file; base_dir stands in)
    config_dir: Path | None = Field(None, exclude=True)

    @field_validator("brokers")
    @classmethod
    def _unique_brokers(cls, brokers: list[Broker]) -> list[Broker]:
        names = [b.name for b in brokers]
        if len(names) != len(set(names)):
            raise ValueError(f"broker names must be unique: {names}")
        sessions = [s.name for b in brokers for s in b.sessions]
        if len(sessions) != len(set(sessions)):
            raise ValueError(f"broker session names must be unique: {sessions}")
        return brokers

    @model_validator(mode="after")
    def _routes_exist(self) -> OmsConfig:
        names = {b.name for b in self.brokers}
        if self.routing.default_route and self.routing.default_route not in names:
            raise ValueError(f"routing.default_route {self.routing.default_route!r} is not a broker")
        for dest, broker in self.routing.destinations.items():
            if broker not in names:
                raise ValueError(f"routing.destinations[{dest!r}] = {broker!r} is not a broker")
        for number, rule in enumerate(self.routing.rules, 1):
            if rule.broker not in names:
                raise ValueError(f"routing.rules[{number}].broker = {rule.broker!r} is not a "
                                 f"broker")
        for number, copy in enumerate(self.drop_copies, 1):
            if copy.broker not in names:
                raise ValueError(f"drop_copies[{number}] {copy.name}: broker = "
                                 f"{copy.broker!r} is not a broker")
        copies = [copy.name for copy in self.drop_copies]
        if len(copies) != len(set(copies)):
            raise ValueError(f"drop_copies names must be unique: {copies}")
        # #19: one engine, one session per key: a drop copy's CompIDs must differ from
        # every other session's, or the engine could not tell whose message it is
        seen: dict[str, str] = {}
        for where, key in self.session_keys():
            if key in seen:
                raise ValueError(f"session {key} is configured twice: {seen[key]} and {where}; "
                                 f"give one of them other CompIDs")
            seen[key] = where
        return self

    def session_keys(self) -> list[tuple[str, str]]:
        """(where in the file, session key) of every FIX session configured."""
        return ([(f"[[upstream]] {u.target_comp_id}", session_key(u.sender_comp_id,
                                                                  u.target_comp_id))
                 for u in self.upstream]
                + [(f"[[brokers]] {b.name} session {s.name}", s.key)
                   for b, s in self.broker_sessions()]
                + [(f"[[drop_copies]] {c.name}", c.key) for c in self.drop_copies]
                + [(f"[[marketdata_sessions]] {m.name}", m.key)
                   for m in self.marketdata_sessions])

    # --- resolved paths and values ------------------------------------------------------
    def resolve(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def data_dictionary_path(self) -> Path | None:
        """The [fix] data_dictionary as a path; None when "" and no FIX44.xml is beside the
        config file (the engine then takes the OMS's own, ``default_data_dictionary``).

        Unlike the other paths, a relative one is taken from the config file's folder: the
        dictionary travels with its config (#18)."""
        folder = self.config_dir or self.base_dir
        if not self.fix.data_dictionary:
            beside = folder / "FIX44.xml"
            return beside if beside.exists() else None
        path = Path(self.fix.data_dictionary)
        return path if path.is_absolute() else folder / path

    @property
    def sessions_path(self) -> Path:
        return self.resolve(self.oms.sessions_dir)

    @property
    def admin_token_path(self) -> Path:
        token = Path(self.admin.token_file)
        return token if token.is_absolute() else self.sessions_path / token

    def database_url(self, override: str | None = None) -> str:
        """--database-url, else OMS_DATABASE_URL, else the file; sqlite paths made absolute."""
        url = override or os.environ.get("OMS_DATABASE_URL") or self.oms.database_url
        return absolute_sqlite_url(url, self.base_dir)

    def broker(self, name: str) -> Broker:
        for broker in self.brokers:
            if broker.name == name:
                return broker
        raise KeyError(name)

    def broker_sessions(self) -> list[tuple[Broker, BrokerSession]]:
        """Every broker session, each with its broker, brokers and sessions in config order."""
        return [(broker, session) for broker in self.brokers for session in broker.sessions]


def absolute_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative ``sqlite:///file`` URL absolute against ``base_dir``."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix):]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str((base_dir / rest).resolve())
    return url


def load_config(path: str | Path | None = None) -> OmsConfig:
    """Read and validate a config file; ``ConfigError`` says what is wrong with it.

    Relative paths in the file (database, sessions dir) are taken relative to the parent
    of the file's directory when the file sits in ``fix_config/``, otherwise relative to
    the file's own directory; the data dictionary's always to the file's own directory.
    """
    config_path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        data = tomllib.loads(config_path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    folder = config_path.resolve().parent
    base_dir = folder.parent if folder.name == "fix_config" else folder
    try:
        return OmsConfig(**data, base_dir=base_dir, config_dir=folder)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None


def parse_config_text(text: str, base_dir: Path) -> OmsConfig:
    """Parse config text (used by the demo and tests that write their own files)."""
    return OmsConfig(**tomllib.loads(text), base_dir=base_dir)




def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def config_to_toml(config: OmsConfig) -> str:
    """Write a config back as TOML (the demo writes the config it runs with)."""
    data = config.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []
    for section, body in data.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]
                lines.append("")
        else:
            lines.append(f"[{section}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in body.items()]
            lines.append("")
    return "\n".join(lines)
