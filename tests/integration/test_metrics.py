"""The admin port's /metrics, /health and /ready: a real server with a simulated broker and
client, scraped over HTTP without a token and read with Prometheus's own text parser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.stack import Stack, wait_until

pytestmark = pytest.mark.slow


def get(server: Any, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET on the server's admin port, with no token."""
    admin = server.admin
    url = f"http://{admin.host}:{admin.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, labels), as Prometheus's parser reads it."""
    status, content_type, text = get(server, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples}


def test_metrics_parse_and_move_when_orders_flow(tmp_path: Path, database_url: str):
    # Arrange: a server logged on to the broker, a client logged on to it
    stack = Stack(tmp_path, database_url)
    try:
        stack.start_broker()
        server = stack.start_oms()
        client = stack.client()
        before = samples(server)

        # Act: three orders filled, one refused for its symbol's missing quantity
        ids = [client.send_order(symbol="IBM", side="buy", qty=100, ord_type="1")
               for _ in range(3)]
        wait_until(lambda: all(client.order(i).status == "2" for i in ids))
        refused = client.send_order(symbol="IBM", side="buy", qty=0, ord_type="1")
        wait_until(lambda: client.order(refused).status == "8")
        after = samples(server)

        # Assert
        def moved(name: str, **labels: str) -> float:
            key = (name, tuple(sorted(labels.items())))
            return after[key] - before.get(key, 0.0)

        assert moved("oms_orders_received_total") == 4
        assert moved("oms_orders_reached_total", status="FILLED") == 3
        assert moved("oms_orders_reached_total", status="NEW") == 3
        assert moved("oms_orders_reached_total", status="REJECTED") == 1
        assert moved("oms_fills_total") == 3
        assert moved("oms_filled_quantity_total") == 300
        assert moved("oms_rejects_total", by="oms", reason="INCORRECT_QUANTITY") == 1
        assert moved("oms_order_to_child_latency_seconds_count") == 3
        assert moved("oms_order_to_child_latency_seconds_bucket", le="+Inf") == 3
        assert moved("oms_broker_ack_latency_seconds_count") == 3
        assert after[("oms_broker_ack_latency_seconds_sum", ())] > 0
        commits = after[("oms_commits_total", ())]
        assert commits >= 1
        assert after[("oms_commit_duration_seconds_count", ())] == commits
        assert after[("oms_commit_rows_count", ())] == commits
        assert after[("oms_commit_rows_sum", ())] == after[("oms_rows_written_total", ())]
        broker = (("role", "broker"), ("session", "FIX.4.4:OMS->BROKER1"))
        upstream = (("role", "upstream"), ("session", "FIX.4.4:OMS->CLIENT1"))
        assert after[("oms_session_logged_on", broker)] == 1
        assert after[("oms_session_logged_on", upstream)] == 1
        # the broker session sent its Logon and three orders at least
        assert after[("oms_session_next_sender_seq_num",
                      (("session", "FIX.4.4:OMS->BROKER1"),))] >= 5
        assert ("oms_core_queue_depth", ()) in after
    finally:
        stack.stop()


def test_health_and_ready_answer_without_a_token_and_other_routes_keep_it(tmp_path: Path):
    # Arrange: a server logged on to the broker; no client logged on yet
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        stack.start_broker()
        server = stack.start_oms()

        # Act
        health = get(server, "/health")
        waiting = get(server, "/ready")
        stats = get(server, "/stats")
        cancel = urllib.request.Request(
            f"http://{server.admin.host}:{server.admin.port}/orders/X/cancel", method="POST",
            data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused_post:
            urllib.request.urlopen(cancel, timeout=10)
        stack.client()
        ready = get(server, "/ready")

        # Assert
        assert health[0] == 200 and json.loads(health[2])["ok"] is True
        assert waiting[0] == 503
        not_ready = json.loads(waiting[2])["not_ready"]
        assert not_ready == ["session FIX.4.4:OMS->CLIENT1 (upstream) is not logged on"]
        assert stats[0] == 401 and "admin token" in stats[2]
        assert refused_post.value.code == 401
        assert ready[0] == 200 and json.loads(ready[2])["not_ready"] == []
    finally:
        stack.stop()


def test_each_server_has_a_registry_of_its_own(tmp_path: Path):
    # Arrange: two servers in one process (quickfix's session registry is global, so they
    # are not started: the registry is made when the server is)
    from prometheus_client import REGISTRY

    from oms.bootstrap import OmsServer

    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    first, second = OmsServer(stack.config), OmsServer(stack.config)

    # Act
    texts = [server.metrics.render().decode() for server in (first, second)]

    # Assert: both expose the same families, from registries that are neither each other
    # nor the process-wide one
    names = [{family.name for family in text_string_to_metric_families(text)}
             for text in texts]
    assert "oms_fills" in names[0] and names[0] == names[1]
    assert first.metrics.registry is not second.metrics.registry
    assert REGISTRY.get_sample_value("oms_fills_total") is None


def test_health_says_503_once_the_core_has_stopped(tmp_path: Path):
    # Arrange
    stack = Stack(tmp_path, f"sqlite:///{tmp_path / 'oms.db'}")
    try:
        stack.start_broker()
        server = stack.start_oms()
        assert server.core is not None

        # Act: the core stops under a running admin interface
        server.core.stop()
        health = get(server, "/health")
        ready = get(server, "/ready")

        # Assert
        assert health[0] == 503 and json.loads(health[2])["core"] == "not running"
        assert ready[0] == 503
        assert "the server is not running" in json.loads(ready[2])["not_ready"]
    finally:
        stack.stop()
