"""Shared fixtures: reachability of the local services, with a clear skip (or a failure in CI)."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get(
    "POSGUARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MQTT_HOST = os.environ.get("POSGUARD_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("POSGUARD_TEST_MQTT_PORT", "1883"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip with a reason when a service is down; fail instead when CI demands services."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port} (start it, see .ci/run)"
    if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> str:
    """A SQLAlchemy URL of the local PostgreSQL test database."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def mqtt_broker() -> tuple[str, int]:
    """(host, port) of the local MQTT broker (Mosquitto)."""
    need_service("MQTT broker", MQTT_HOST, MQTT_PORT)
    return MQTT_HOST, MQTT_PORT
