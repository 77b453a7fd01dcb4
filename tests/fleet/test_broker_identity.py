"""Per-terminal broker identity and TLS for the fleet's MQTT worker, on a private Mosquitto
started for the test (the shared broker on 1883 is plain and anonymous; it is never touched).

- The shipped ``deploy/mosquitto/acl`` with password-file entries the fleet writes from the
  credentials it issues: a terminal publishes its own events, cannot publish as another
  terminal, and reads only its own commands (Mosquitto ACL ``pattern`` with ``%u``).
- The MQTT ingest worker over TLS with a client certificate (``require_certificate``): it
  verifies the broker, the broker verifies it, and an event published over TLS is stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import func, select

from posguard.catalog import default_catalog
from posguard.common.errors import ConfigError
from posguard.common.testing import free_port, write_self_signed_cert
from posguard.fleet.broker_passwd import update_passwd_file
from posguard.fleet.clock import SystemClock
from posguard.fleet.db.models import EventRow
from posguard.fleet.ingest.broker_tls import broker_tls_context
from posguard.fleet.ingest.mqtt_worker import MqttIngestWorker
from posguard.fleet.ingest.store import EventStore

from .conftest import FleetDB, event, register

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"


def _mosquitto(tmp_path: Path, lines: str) -> Iterator[int]:
    exe = shutil.which("mosquitto")
    if exe is None:
        reason = "mosquitto is not installed (Debian package 'mosquitto')"
        if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    tmp_path.chmod(0o755)  # mosquitto may drop to its own user: it must read these files
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\npersistence false\n{lines}"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def acl_broker(tmp_path: Path, sqlite_db: FleetDB) -> Iterator[tuple[int, dict[str, str]]]:
    creds = {t: register(sqlite_db, t, merchant_id="M1") for t in ("T1", "T2")}
    passwd = tmp_path / "passwd"
    update_passwd_file(passwd, [("posguard-fleet", "fleet-password-0123")])
    update_passwd_file(passwd, list(creds.items()))  # each terminal: its fleet credential
    lines = f"allow_anonymous false\npassword_file {passwd}\nacl_file {ACL}\n"
    for port in _mosquitto(tmp_path, lines):
        yield port, creds


def test_a_terminal_cannot_publish_as_another_or_read_its_commands(
    acl_broker: tuple[int, dict[str, str]],
) -> None:
    port, creds = acl_broker

    async def scenario() -> tuple[list[str], list[str]]:
        fleet_seen: list[str] = []
        t1_seen: list[str] = []
        fleet = aiomqtt.Client(
            "127.0.0.1", port, username="posguard-fleet", password="fleet-password-0123"
        )
        t1 = aiomqtt.Client("127.0.0.1", port, username="T1", password=creds["T1"])
        async with fleet, t1:
            await fleet.subscribe("posguard/v1/+/+/events", qos=1)
            await t1.subscribe("posguard/v1/M1/+/commands", qos=1)  # asks for everyone's

            async def collect(client: aiomqtt.Client, into: list[str]) -> None:
                async for m in client.messages:
                    into.append(f"{m.topic.value} {m.payload!r}")

            tasks = [
                asyncio.create_task(collect(fleet, fleet_seen)),
                asyncio.create_task(collect(t1, t1_seen)),
            ]
            await t1.publish("posguard/v1/M1/T1/events", b"own", qos=1)
            await t1.publish("posguard/v1/M1/T2/events", b"spoofed", qos=1)
            await fleet.publish("posguard/v1/M1/T2/commands", b"for-T2", qos=1)
            await fleet.publish("posguard/v1/M1/T1/commands", b"for-T1", qos=1)
            await asyncio.sleep(1.0)
            for t in tasks:
                t.cancel()
        return fleet_seen, t1_seen

    fleet_seen, t1_seen = asyncio.run(scenario())
    assert fleet_seen == ["posguard/v1/M1/T1/events b'own'"]
    assert t1_seen == ["posguard/v1/M1/T1/commands b'for-T1'"]


def test_a_wrong_credential_is_refused_by_the_broker(
    acl_broker: tuple[int, dict[str, str]],
) -> None:
    port, creds = acl_broker

    async def connect(password: str) -> None:
        async with aiomqtt.Client("127.0.0.1", port, username="T1", password=password):
            pass

    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(connect(creds["T2"]))  # another terminal's credential
    asyncio.run(connect(creds["T1"]))


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, dict[str, Path]]]:
    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    server_cert, server_key = write_self_signed_cert(server_dir, "localhost")
    client_cert, client_key = write_self_signed_cert(client_dir, "ingest-1")
    lines = (
        f"certfile {server_cert}\nkeyfile {server_key}\ncafile {client_cert}\n"
        "require_certificate true\nallow_anonymous true\n"
    )
    files = {"ca": server_cert, "cert": client_cert, "key": client_key}
    for port in _mosquitto(tmp_path, lines):
        yield port, files


def test_the_ingest_worker_stores_over_tls_with_a_client_certificate(
    tls_broker: tuple[int, dict[str, Path]], sqlite_db: FleetDB
) -> None:
    port, files = tls_broker
    token = register(sqlite_db, "T1", merchant_id="M1")
    assert token
    tls = broker_tls_context(ca_file=files["ca"], cert_file=files["cert"], key_file=files["key"])
    store = EventStore(sqlite_db.sessions, catalog=default_catalog(), clock=SystemClock())
    worker = MqttIngestWorker(store, host="localhost", port=port, tls_context=tls)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(worker.subscribed.wait(), 15)
        async with aiomqtt.Client("localhost", port, tls_context=tls) as pub:
            body = json.dumps(event("T1", 1, merchant_id="M1"), default=str).encode()
            await pub.publish("posguard/v1/M1/T1/events", body, qos=1)
        for _ in range(100):
            if worker.stats.stored:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 15)

    asyncio.run(scenario())
    with sqlite_db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 1

    # without the client certificate the broker refuses the worker's connection
    bare = broker_tls_context(ca_file=files["ca"])

    async def refused() -> None:
        async with aiomqtt.Client("localhost", port, tls_context=bare, timeout=5):
            pass

    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(refused())


def test_tls_options_name_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--tls-ca .*nope\.pem: no such file"):
        broker_tls_context(ca_file=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="needs both --tls-cert and --tls-key"):
        broker_tls_context(cert_file=tmp_path / "c.pem")


def test_the_terminal_agent_presents_its_client_certificate(
    tls_broker: tuple[int, dict[str, Path]],
) -> None:
    """The agent side of the same listener: with ``cert_file``/``key_file`` it connects, without
    them the broker refuses it."""
    from posguard.terminal.service import AgentSettings

    port, files = tls_broker
    with_cert = AgentSettings(
        transport="mqtt", tls=True, ca_file=files["ca"], cert_file=files["cert"],
        key_file=files["key"],
    )  # fmt: skip
    without = AgentSettings(transport="mqtt", tls=True, ca_file=files["ca"])

    async def connect(settings: AgentSettings) -> None:
        async with aiomqtt.Client("localhost", port, tls_context=settings.tls_context(), timeout=5):
            pass

    asyncio.run(connect(with_cert))
    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(connect(without))
    with pytest.raises(ConfigError, match="go together"):
        AgentSettings(transport="mqtt", tls=True, cert_file=files["cert"]).tls_context()
