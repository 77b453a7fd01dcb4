"""The telemetry agent on a production-style broker: TLS with a private CA and a per-terminal
login. A private Mosquitto is started for the test on an ephemeral port (the machine's broker
on 1883 is plain and anonymous). A wrong password and an untrusted certificate are named
faults, and nothing leaves the outbox until the broker has it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from posguard.common.event_ack import ack_payload
from posguard.common.events import EventKind, parse_event
from posguard.common.testing import free_port, until, write_self_signed_cert
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import (
    MqttPublisher,
    PublishError,
    acks_topic,
    events_topic,
)
from posguard.terminal.agent.runner import TelemetryAgent
from posguard.terminal.service import AgentSettings

TID, MID, SECRET = "T0000077", "898310048990001", "s3cret-for-T0000077"


@dataclass(frozen=True)
class Broker:
    port: int
    ca: Path


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    exe, passwd = shutil.which("mosquitto"), shutil.which("mosquitto_passwd")
    if exe is None or passwd is None:
        reason = "mosquitto and mosquitto_passwd are not installed (Debian package 'mosquitto')"
        if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    tmp_path.chmod(0o755)  # mosquitto may drop to its own user: it must read these files
    cert, key = write_self_signed_cert(tmp_path, "localhost")
    subprocess.run([passwd, "-b", "-c", str(tmp_path / "passwords"), TID, SECRET], check=True)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n"
        f"allow_anonymous false\npassword_file {tmp_path / 'passwords'}\npersistence false\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):  # bounded: 5 s for the listener to come up
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") from None
                time.sleep(0.05)
        yield Broker(port, cert)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _settings(broker: Broker, password: str, *, trusted: bool = True) -> AgentSettings:
    return AgentSettings(
        transport="mqtt",
        host="localhost",
        port=broker.port,
        username=TID,
        password=password,
        tls=True,
        ca_file=broker.ca if trusted else None,
    )


def _publisher(a: AgentSettings) -> MqttPublisher:
    return MqttPublisher(
        a.host,
        a.port,
        merchant_id=MID,
        terminal_id=TID,
        timeout=5,
        username=a.username,
        password=a.password,
        tls_context=a.tls_context(),
    )


async def test_events_reach_a_tls_broker_with_the_terminals_login(
    tls_broker: Broker, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID)
    for i in range(3):
        box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i:06d}")
    received: list[bytes] = []
    ctx = ssl.create_default_context(cafile=str(tls_broker.ca))
    async with aiomqtt.Client(
        "localhost", tls_broker.port, username=TID, password=SECRET, tls_context=ctx
    ) as fleet:
        await fleet.subscribe(events_topic(MID, TID), qos=1)

        async def collect() -> None:
            async for msg in fleet.messages:
                assert isinstance(msg.payload, bytes)
                received.append(msg.payload)
                return

        collector = asyncio.create_task(collect())
        pub = _publisher(_settings(tls_broker, SECRET))
        assert await TelemetryAgent(box, pub, heartbeat_interval=None).drain_once() == 3
        await asyncio.wait_for(collector, 10)
        assert box.pending() == 3  # kept until the fleet confirms, over the same TLS session
        await fleet.publish(acks_topic(MID, TID), ack_payload(TID, [(1, 3)]), qos=1)
        await until(lambda: box.pending() == 0, timeout=10, what="the confirmation")
        await pub.close()
    (batch,) = received  # the batch of 3 in one message, a JSON array
    assert [parse_event(e).seq for e in json.loads(batch)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("password", "trusted", "code"),
    [
        ("wrong", True, "CFG.TERMINAL_UNREGISTERED"),  # the broker refuses the login
        (SECRET, False, "NET.TLS_FAILURE"),  # the broker's certificate is not trusted
    ],
)
async def test_a_refused_login_or_untrusted_broker_keeps_events_buffered(
    tls_broker: Broker, tmp_path: Path, password: str, trusted: bool, code: str
) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID)
    box.emit(EventKind.HEARTBEAT, uptime_s=1)
    pub = _publisher(_settings(tls_broker, password, trusted=trusted))
    with pytest.raises(PublishError) as err:
        await TelemetryAgent(box, pub, heartbeat_interval=None).drain_once()
    assert err.value.code == code
    assert box.pending() == 1


def test_agent_settings_never_show_the_password() -> None:
    a = AgentSettings(transport="mqtt", username=TID, password=SECRET, tls=True)
    assert SECRET not in repr(a)
    assert a.tls_context() is not None
    assert AgentSettings().tls_context() is None


def test_a_missing_ca_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    from posguard.common.errors import ConfigError

    settings = AgentSettings(transport="mqtt", tls=True, ca_file=tmp_path / "missing-ca.pem")
    with pytest.raises(ConfigError, match=r"missing-ca\.pem"):
        settings.tls_context()
