"""Observability: a structured log line per HTTP request, HTTP metrics by route template,
database error counts, process gauges, and the MQTT worker's own metrics (received, stored,
duplicate, rejected by reason, batch latency, connected) against the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiomqtt
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from posguard.catalog import default_catalog
from posguard.fleet import process_metrics
from posguard.fleet.clock import SystemClock
from posguard.fleet.ingest.mqtt_worker import MqttIngestWorker
from posguard.fleet.ingest.store import EventStore

from .conftest import Api, FleetDB, event, register


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_request_has_a_log_line_and_metrics_by_route_template(api: Api) -> None:
    labels = {"method": "GET", "route": "/api/v1/terminals/{terminal_id}", "status": "200"}
    before = _value("posguard_fleet_http_requests_total", **labels)
    with capture_logs() as logs:
        r = api.client.get("/api/v1/terminals/T1", headers=api.headers["ops"])
        assert r.status_code == 200
        ev = event("T1", 1)
        assert api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1")).is_success
        assert api.client.get("/api/v1/nowhere").status_code == 404
    lines = [e for e in logs if e["event"] == "fleet.http.request"]
    assert [(e["method"], e["route"], e["status"], e["user"]) for e in lines] == [
        ("GET", "/api/v1/terminals/{terminal_id}", 200, "ops"),
        ("POST", "/api/v1/ingest", 201, "terminal:T1"),
        ("GET", "unmatched", 404, None),
    ]
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] > 0 for e in lines)
    assert _value("posguard_fleet_http_requests_total", **labels) == before + 1
    scraped = api.client.get("/metrics").text
    assert 'route="/api/v1/terminals/{terminal_id}"' in scraped
    assert 'route="/api/v1/terminals/T1"' not in scraped  # never the raw path
    assert "posguard_fleet_http_request_seconds_bucket" in scraped


def test_database_errors_are_counted(sqlite_db: FleetDB) -> None:
    before = _value("posguard_fleet_db_errors_total", error="OperationalError")
    with pytest.raises(OperationalError), sqlite_db.engine.connect() as c:
        c.execute(text("SELECT * FROM no_such_table"))
    assert _value("posguard_fleet_db_errors_total", error="OperationalError") == before + 1


def test_process_and_pool_gauges(sqlite_db: FleetDB) -> None:
    process_metrics.refresh(sqlite_db.engine)
    assert _value("posguard_fleet_process_resident_memory_bytes") > 1_000_000
    assert _value("posguard_fleet_process_open_fds") > 0
    assert _value("posguard_fleet_process_cpu_seconds") > 0


def test_the_mqtt_worker_exposes_its_own_counts(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    register(sqlite_db, "T1", merchant_id="M01")
    root = f"obs-{uuid.uuid4().hex[:8]}/v1"
    cid = f"obs-{uuid.uuid4().hex[:8]}"
    store = EventStore(sqlite_db.sessions, catalog=default_catalog(), clock=SystemClock())
    worker = MqttIngestWorker(
        store,
        host=mqtt_broker[0],
        port=mqtt_broker[1],
        client_id=cid,
        topic_root=root,
        share_group=f"g{uuid.uuid4().hex[:8]}",
    )
    connected: list[float] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(worker.subscribed.wait(), 15)
        connected.append(_value("posguard_fleet_mqtt_connected", worker=cid))
        topic = f"{root}/M01/T1/events"
        async with aiomqtt.Client(*mqtt_broker) as pub:
            events = [event("T1", 1), event("T1", 2), event("T1", 1)]  # the last: a resend
            await pub.publish(topic, json.dumps(events, default=str).encode(), qos=1)
            await pub.publish(topic, b"{not json", qos=1)
        for _ in range(200):
            if worker.stats.received >= 4:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 15)
        connected.append(_value("posguard_fleet_mqtt_connected", worker=cid))

    asyncio.run(scenario())

    def count(outcome: str) -> float:
        return _value("posguard_fleet_mqtt_events_total", worker=cid, outcome=outcome)

    assert (count("received"), count("stored"), count("duplicate"), count("rejected")) == (
        4,
        2,
        1,
        1,
    )
    assert _value("posguard_fleet_mqtt_rejected_total", worker=cid, reason="not_json") == 1
    assert _value("posguard_fleet_mqtt_batch_seconds_count", worker=cid) >= 1
    assert connected == [1.0, 0.0]


def test_refusals_of_unknown_terminals_are_logged_per_reason_not_per_event(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    root = f"obs-{uuid.uuid4().hex[:8]}/v1"
    store = EventStore(sqlite_db.sessions, catalog=default_catalog(), clock=SystemClock())
    worker = MqttIngestWorker(
        store,
        host=mqtt_broker[0],
        port=mqtt_broker[1],
        topic_root=root,
        share_group=f"g{uuid.uuid4().hex[:8]}",
        linger_s=0.3,
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(worker.subscribed.wait(), 15)
        async with aiomqtt.Client(*mqtt_broker) as pub:
            for tid in ("U1", "U2"):
                events = [event(tid, i, merchant_id="M01") for i in range(1, 26)]
                body = json.dumps(events, default=str).encode()
                await pub.publish(f"{root}/M01/{tid}/events", body, qos=1)
        for _ in range(200):
            if worker.stats.received >= 50:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 15)

    with capture_logs() as logs:
        asyncio.run(scenario())
    lines = [e for e in logs if e["event"] == "fleet.mqtt.refused"]
    assert 1 <= len(lines) <= 2  # one per batch and reason, not 50
    assert {e["reason"] for e in lines} == {"unknown terminal {terminal}"}
    assert sum(e["events"] for e in lines) == 50
    assert set().union(*(e["terminals"] for e in lines)) == {"U1", "U2"}
