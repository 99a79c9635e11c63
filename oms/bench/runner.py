"""One benchmark scenario: broker simulator + system under test + load client, 3 processes.

``run_scenario`` makes a temporary directory, writes an OMS config there with free loopback
ports (the database a SQLite file in that directory, or a fresh schema in PostgreSQL), and
starts ``oms sim broker --fill immediate`` and then the system under test: ``oms serve`` or
the do-nothing relay (``oms.bench.relay``). Once the system is logged on to the broker it
runs the load client (``oms sim client --json``, or with ``--client raw`` the independent
``oms.bench.rawclient``) twice: a warm-up run that is not counted, then the measured
run. Around the measured run it reads the CPU time of the system under test and of the
broker from /proc/<pid>/stat and of the client from its rusage (its whole life, start-up
included); afterwards it fetches the OMS's own ``/stats`` (internal latency). Everything it
started is stopped (SIGTERM, then SIGKILL after 15 s) and removed in ``finally``, on error too.

What it does not do: no assertion on speed, no retries, no concurrency between scenarios;
PostgreSQL's own CPU is not counted (a machine-wide figure from /proc/stat was tried and
dropped: its tick sampling undercounts bursty work at low rates). Linux only (/proc).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms.config import OmsConfig, config_to_toml
from oms.localproc import free_port, listening, stop_process

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLIENT_COMP_ID, OMS_COMP_ID, BROKER_COMP_ID = "CLIENT1", "OMS", "BROKER1"
FEED_COMP_ID = "MARKET"
# the load clients' symbols (oms.sim.client, oms.bench.rawclient): the feed quotes them
FEED_SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG", "AMZN")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# files the relay keeps in its sessions dir (this module must not import quickfix, see cli)
READY_FILE = "relay.ready"
STATS_FILE = "relay-stats.json"


# the stages of the OMS's internal latency in its /stats, and the pre-trade checks inside
# a batch: (key, what a table calls it)
STAGES = (("queue_wait_us", "queue wait"), ("batch_us", "batch"), ("commit_us", "commit"),
          ("send_us", "send"), ("checks_us", "checks"))


def _measured_commits(before: dict[str, Any], after: dict[str, Any], orders: int
                      ) -> dict[str, Any]:
    """The journal over the measured run alone (``commits`` and ``rows_written`` count from
    the server's start): its commits, and the CPU its committing thread spent in them per
    order (rows, statements, COMMIT and its fdatasync)."""
    try:
        commits = after["commits"] - before["commits"]
        cpu = after["commit_cpu_s"] - before["commit_cpu_s"]
    except (KeyError, TypeError):
        return {"measured_commits": None, "commit_cpu_us_per_order": None}
    return {"measured_commits": commits,
            "commit_cpu_us_per_order": round(cpu * 1e6 / max(orders, 1), 1)}


def _measured_feed(run: _Run, before: dict[str, Any], after: dict[str, Any],
                   summary: dict[str, Any], feed_cpu: float) -> dict[str, Any]:
    """#20: the market-data updates the OMS's book took during the measured run (quotes
    and trades through the port), per second of the run, and the publisher's CPU."""
    if not run.feeds:
        return {}
    def updates(stats: dict[str, Any]) -> int:
        md = stats.get("market_data") or {}
        return int(md.get("quotes", 0)) + int(md.get("trades", 0))
    applied = updates(after) - updates(before)
    elapsed = summary.get("elapsed_s") or 0.0
    return {"feed_rate": run.scenario.feed_rate,
            "feed_per_message": run.scenario.feed_per_message,
            "feed_updates": applied,
            "feed_updates_per_s": round(applied / elapsed) if elapsed else None,
            "feed_cpu_s": round(feed_cpu, 3)}


class BenchError(RuntimeError):
    """A scenario could not run: a process did not start, log on or finish."""


@dataclass(frozen=True)
class Load:
    """What the load client sends."""

    orders: int = 5000
    rate: float = 0.0  # orders per second; 0 = as fast as the window allows
    window: int = 200  # orders outstanding at most
    warmup: int = 300  # orders sent first and not counted
    # "sim": ``oms sim client`` (QuickFIX); "raw": ``oms.bench.rawclient``, a client that
    # shares no code with the OMS's FIX layer (simplefix on a plain socket, one thread)
    client: str = "sim"

    def client_timeout(self, orders: int) -> float:
        """Seconds the client waits for its orders: generous, never a speed assertion."""
        expected = orders / self.rate if self.rate else orders / 200
        return max(60.0, 3 * expected)


@dataclass(frozen=True)
class Profile:
    """Sample the system under test with py-spy during the measured run."""

    directory: Path
    format: str = "flamegraph"  # py-spy's: flamegraph (an SVG), raw, speedscope
    rate: int = 100  # samples per second
    # True: only samples of the thread holding the GIL, i.e. where the Python CPU goes (the
    # OMS is one GIL-bound process); False: every thread py-spy thinks is not idle, which
    # also counts threads blocked in C (a queue get, a socket) as busy
    gil_only: bool = True

    def output(self, scenario: str) -> Path:
        suffix = {"flamegraph": ".svg", "raw": ".txt", "speedscope": ".json"}[self.format]
        return self.directory / f"{scenario}{suffix}"


@dataclass(frozen=True)
class Scenario:
    """One row of the report: the relay, or the OMS on one database."""

    name: str  # "relay", "oms-sqlite", "oms-postgres"
    system: str  # "relay" | "oms"
    database: str = "sqlite"  # "sqlite" | "postgres" (the relay ignores it)
    postgres_url: str = DEFAULT_POSTGRES_URL
    # #20: market-data updates per second streamed to the OMS while it takes orders (a
    # fourth process, ``oms.bench.mdfeed``, on a ``[[marketdata_sessions]]`` session);
    # 0: none. The relay ignores it.
    feed_rate: float = 0.0
    feed_per_message: int = 4  # updates in one MarketDataIncrementalRefresh


# --- CPU accounting ------------------------------------------------------------------------
def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # stat fields 14 and 15


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- processes -----------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMS_DATABASE_URL", None)  # it would override the database the config names
    env["PYTHONUNBUFFERED"] = "1"
    # the children must import this same ``oms``, installed or not
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def _spawn(args: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``python <args>`` in ``cwd``: the scenario's own folder, never the caller's
    directory, because ``python -m`` puts its working directory ahead of PYTHONPATH: run
    from a checkout, every child imported that checkout's ``oms``, whichever tree was
    being measured (``bench_ab.py`` compared a checkout with itself)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                                env=_child_env(), start_new_session=True, cwd=cwd)


def _start_profiler(profile: Profile, scenario: str, pid: int,
                    log_path: Path) -> subprocess.Popen[bytes]:
    """py-spy on ``pid`` until SIGINT; --nonblocking so the process is never paused."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise BenchError("--profile needs py-spy on the PATH (pip install py-spy)")
    profile.directory.mkdir(parents=True, exist_ok=True)
    args = [py_spy, "record", "--pid", str(pid), "--output", str(profile.output(scenario)),
            "--format", profile.format, "--rate", str(profile.rate), "--function",
            "--threads", "--nonblocking"]
    if profile.gil_only:
        args.append("--gil")
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def _stop_profiler(sampler: subprocess.Popen[bytes]) -> None:
    sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    try:
        sampler.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        sampler.kill()
        sampler.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str,
                log_path: Path, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise BenchError(f"{what} exited with {process.returncode}:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not ready within {timeout:.0f}s:\n{_tail(log_path)}")
        time.sleep(0.05)


# --- the config ----------------------------------------------------------------------------
def bench_config(folder: Path, database_url: str, upstream_port: int,
                 broker_port: int, feed_port: int | None = None) -> OmsConfig:
    """The OMS defaults (FIX settings, batching, log level) on free ports, under ``folder``;
    with ``feed_port``, a market-data session subscribing the load's symbols there."""
    feeds = [{"name": "MD", "sender_comp_id": OMS_COMP_ID, "target_comp_id": FEED_COMP_ID,
              "host": "127.0.0.1", "port": feed_port, "reconnect_interval": 1,
              "symbols": list(FEED_SYMBOLS)}] if feed_port is not None else []
    return OmsConfig(
        oms={"database_url": database_url, "sessions_dir": str(folder / "sessions")},
        admin={"port": 0},
        upstream=[{"sender_comp_id": OMS_COMP_ID, "target_comp_id": CLIENT_COMP_ID,
                   "port": upstream_port}],
        brokers=[{"name": "SIM", "sender_comp_id": OMS_COMP_ID,
                  "target_comp_id": BROKER_COMP_ID, "host": "127.0.0.1", "port": broker_port,
                  "reconnect_interval": 1}],
        routing={"default_route": "SIM"},
        marketdata_sessions=feeds,
        base_dir=folder,
    )


class PostgresSchema:
    """A fresh schema for one run, dropped afterwards; ``url`` selects it."""

    def __init__(self, base_url: str) -> None:
        from oms.store.db import make_engine, normalize_url

        self.name = f"oms_bench_{uuid.uuid4().hex[:12]}"
        self._admin = None
        try:
            self._admin = make_engine(base_url)
            with self._admin.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{self.name}"')
        except Exception as exc:
            if self._admin is not None:
                self._admin.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise BenchError(f"cannot make a schema in PostgreSQL: {reason}") from None
        url = normalize_url(base_url).update_query_dict({"options": f"-csearch_path={self.name}"})
        self.url = url.render_as_string(hide_password=False)

    def drop(self) -> None:
        assert self._admin is not None
        try:
            with self._admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        finally:
            self._admin.dispose()


# --- one scenario --------------------------------------------------------------------------
class _Run:
    """The processes and files of one scenario; ``close`` undoes everything."""

    def __init__(self, scenario: Scenario, folder: Path) -> None:
        self.scenario = scenario
        self.folder = folder
        self.schema: PostgresSchema | None = None
        self.broker: subprocess.Popen[bytes] | None = None
        self.system: subprocess.Popen[bytes] | None = None
        self.feed: subprocess.Popen[bytes] | None = None
        self.upstream_port = free_port()
        self.broker_port = free_port()
        self.feed_port = free_port() if self.feeds else None
        database_url = f"sqlite:///{folder / 'oms.db'}"
        if scenario.system == "oms" and scenario.database == "postgres":
            self.schema = PostgresSchema(scenario.postgres_url)
            database_url = self.schema.url
        self.config = bench_config(folder, database_url, self.upstream_port, self.broker_port,
                                   self.feed_port)
        self.config_path = folder / "oms.toml"
        self.config_path.write_text(config_to_toml(self.config))

    @property
    def feeds(self) -> bool:
        return self.scenario.system == "oms" and self.scenario.feed_rate > 0

    def start(self) -> None:
        folder = self.folder
        if self.feed_port is not None:
            feed_log = folder / "feed.log"
            self.feed = _spawn(
                ["-m", "oms.bench.mdfeed", "--port", str(self.feed_port),
                 "--sender", FEED_COMP_ID, "--symbols", ",".join(FEED_SYMBOLS),
                 "--rate", f"{self.scenario.feed_rate:g}",
                 "--per-message", str(self.scenario.feed_per_message)], feed_log, folder)
            _wait_until(lambda: listening(self.feed_port or 0), self.feed,
                        "market-data publisher", feed_log)
        broker_log = folder / "broker.log"
        self.broker = _spawn(
            ["-m", "oms", "sim", "broker", "--port", str(self.broker_port),
             "--sender", BROKER_COMP_ID, "--target", OMS_COMP_ID,
             "--sessions-dir", str(folder / "broker"), "--fill", "immediate"], broker_log,
            folder)
        _wait_until(lambda: listening(self.broker_port), self.broker, "broker simulator",
                    broker_log)
        system_log = folder / "system.log"
        if self.scenario.system == "relay":
            args = ["-m", "oms.bench.relay", "--config", str(self.config_path)]
        else:
            args = ["-m", "oms", "serve", "--config", str(self.config_path)]
        self.system = _spawn(args, system_log, folder)
        _wait_until(self._system_ready, self.system, self.scenario.name, system_log)

    def _system_ready(self) -> bool:
        if self.scenario.system == "relay":
            return (self.config.sessions_path / READY_FILE).exists()
        from oms.admin import AdminError, call

        if not self.config.admin_token_path.exists():
            return False
        try:
            sessions = call(self.config.admin_token_path, "GET", "/sessions", timeout=2)
        except AdminError:
            return False
        def up(role: str) -> bool:
            return any(s["role"] == role and s["logged_on"] for s in sessions["sessions"])

        return up("broker") and (not self.feeds or up("market_data"))

    def client(self, load: Load, orders: int, label: str) -> dict[str, Any]:
        """Run the load client (``oms sim client --json``, or ``oms.bench.rawclient`` for
        ``load.client == "raw"``) to the end; its summary, per-order states dropped."""
        if load.client == "raw":
            args = [sys.executable, "-m", "oms.bench.rawclient"]
        else:
            args = [sys.executable, "-m", "oms", "sim", "client", "--json",
                    "--sessions-dir", str(self.folder / "client")]
        args += ["--port", str(self.upstream_port), "--sender", CLIENT_COMP_ID,
                 "--target", OMS_COMP_ID, "--orders", str(orders), "--rate", str(load.rate),
                 "--window", str(load.window), "--timeout", str(load.client_timeout(orders)),
                 "--seed", "7"]
        log_path = self.folder / f"client-{label}.log"
        try:
            with open(log_path, "ab") as log:
                done = subprocess.run(args, stdout=subprocess.PIPE, stderr=log,
                                      env=_child_env(), cwd=self.folder,  # see _spawn
                                      timeout=load.client_timeout(orders) + 60)
        except subprocess.TimeoutExpired:  # run() has killed it
            raise BenchError(f"{label} client did not finish:\n{_tail(log_path)}") from None
        lines = done.stdout.decode().strip().splitlines()
        try:
            summary: dict[str, Any] = json.loads(lines[-1])
        except (IndexError, ValueError):
            raise BenchError(f"{label} client gave no summary (exit {done.returncode}):\n"
                             f"{_tail(log_path)}") from None
        summary.pop("orders", None)
        return summary

    def oms_stats(self) -> dict[str, Any]:
        from oms.admin import call

        return call(self.config.admin_token_path, "GET", "/stats")

    def reset_oms_stats(self) -> bool:
        """Ask the OMS to forget the warm-up samples; False if it has no such route."""
        from oms.admin import AdminError, call

        try:
            call(self.config.admin_token_path, "POST", "/stats/reset")
        except AdminError:
            return False
        return True

    def close(self) -> None:
        try:
            stop_process(self.system, STOP_TIMEOUT)
            stop_process(self.broker, STOP_TIMEOUT)
            stop_process(self.feed, STOP_TIMEOUT)
        finally:
            if self.schema is not None:
                schema, self.schema = self.schema, None
                schema.drop()


def run_scenario(scenario: Scenario, load: Load, *, keep_dir: bool = False,
                 profile: Profile | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run one scenario end to end; its figures as a JSON-ready dict (see ``measure``)."""
    folder = Path(tempfile.mkdtemp(prefix=f"oms-bench-{scenario.name}-"))
    run: _Run | None = None
    try:
        run = _Run(scenario, folder)
        progress(f"{scenario.name}: starting broker simulator and {scenario.system}")
        run.start()
        result = measure(run, load, progress, profile)
        if keep_dir:  # also in the JSON, which --json-only leaves as the only output
            result["kept_dir"] = str(folder)
        return result
    finally:
        if run is not None:
            run.close()
        if keep_dir:
            progress(f"{scenario.name}: files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def measure(run: _Run, load: Load, progress: Callable[[str], None],
            profile: Profile | None = None) -> dict[str, Any]:
    """Warm up, then measure one client run; see the module doc for what is read where."""
    assert run.system is not None and run.broker is not None
    name = run.scenario.name
    if load.warmup:
        progress(f"{name}: warm-up, {load.warmup} orders")
        warm = run.client(load, load.warmup, "warmup")
        if warm["done"] != load.warmup:
            raise BenchError(f"{name}: warm-up finished {warm['done']} of {load.warmup} orders")
    stats_reset = run.scenario.system == "oms" and run.reset_oms_stats()
    progress(f"{name}: measuring, {load.orders} orders at "
             f"{f'{load.rate:g}/s' if load.rate else 'max rate'}, window {load.window}")
    sampler = None
    if profile is not None:
        sampler = _start_profiler(profile, name, run.system.pid, run.folder / "py-spy.log")
    try:
        stats_before = run.oms_stats() if run.scenario.system == "oms" else {}
        before = (process_cpu_seconds(run.system.pid), process_cpu_seconds(run.broker.pid),
                  children_cpu_seconds())
        feed_cpu = process_cpu_seconds(run.feed.pid) if run.feed is not None else 0.0
        summary = run.client(load, load.orders, "measured")
        after = (process_cpu_seconds(run.system.pid), process_cpu_seconds(run.broker.pid),
                 children_cpu_seconds())
        if run.feed is not None:
            feed_cpu = process_cpu_seconds(run.feed.pid) - feed_cpu
    finally:
        if sampler is not None and profile is not None:
            _stop_profiler(sampler)
            progress(f"{name}: profile written to {profile.output(name)}")
    if run.scenario.system == "oms":
        stats = run.oms_stats()
        internal = stats.get("internal_latency_us", {})
        extra = {"internal_includes_warmup": bool(load.warmup) and not stats_reset,
                 "commits": stats.get("commits"), "batches": stats.get("batches"),
                 "rows_written": stats.get("rows_written"),
                 **_measured_commits(stats_before, stats, summary["done"]),
                 "gc_pause_us": stats.get("gc_pause_us"),
                 **{key: stats.get(key) for key, _ in STAGES},
                 **_measured_feed(run, stats_before, stats, summary, feed_cpu)}
    else:
        run.close()  # the relay writes its figures when it stops
        stats_path = run.config.sessions_path / STATS_FILE
        internal = json.loads(stats_path.read_text())["internal_latency_us"]
        extra = {}
    completed = summary["done"]
    per_order = 1e6 / max(completed, 1)
    system_cpu, broker_cpu, client_cpu = (b - a for a, b in zip(before, after, strict=True))
    client_run_cpu = summary.get("run_cpu_s")
    elapsed = summary["elapsed_s"] or 0.0
    return {
        "system": run.scenario.system,
        "client": load.client,
        "database": run.scenario.database if run.scenario.system == "oms" else None,
        "orders": load.orders,
        "sent": summary["sent"],
        "completed": completed,
        "filled": summary["filled"],
        "rejected": summary["rejected"],
        "protocol_errors": summary["protocol_errors"],
        "elapsed_s": summary["elapsed_s"],
        "orders_per_s": summary["orders_per_s"],
        "ack_ms": summary["latency_ms"]["ack"],
        "fill_ms": summary["latency_ms"]["fill"],
        "internal_us": internal,
        "cpu_us_per_order": round(system_cpu * per_order, 1),
        "broker_cpu_us_per_order": round(broker_cpu * per_order, 1),
        "client_cpu_us_per_order": round(client_cpu * per_order, 1),
        # the client's CPU over its measured run only (the figure above is its whole life,
        # start-up included), and the CPUs the three processes kept busy meanwhile (the
        # system's and broker's CPU count from the client's start: negligible in a run of
        # thousands of orders): near the machine's count, every process waits for a CPU
        "client_run_cpu_us_per_order": None if client_run_cpu is None
        else round(client_run_cpu * per_order, 1),
        "cpus_busy": None if client_run_cpu is None or not elapsed
        else round((system_cpu + broker_cpu + client_run_cpu) / elapsed, 2),
        "profiled": profile is not None,
        **extra,
    }
