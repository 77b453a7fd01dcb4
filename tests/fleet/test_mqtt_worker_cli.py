"""`posguard fleet mqtt-worker`: the broker login and TLS options reach the worker, the
password comes from a file (never the command line), a missing certificate file is one line."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.cli import app
from posguard.common.testing import write_self_signed_cert


def test_login_and_tls_options_reach_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posguard.fleet.ingest import mqtt_worker

    seen: dict[str, object] = {}

    class Recorder:
        def __init__(self, store: object, **kwargs: object) -> None:
            seen.update(kwargs)
            self.subscribed = asyncio.Event()

        async def run(self, stop: asyncio.Event) -> None:
            stop.set()

    monkeypatch.setattr(mqtt_worker, "MqttIngestWorker", Recorder)
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    ca, _ = write_self_signed_cert(tmp_path, "broker.example")
    cert, key = write_self_signed_cert(tmp_path, "ingest-1")
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-from-a-file\n")
    runner = CliRunner(env={"POSGUARD_LANG": "en"})
    assert runner.invoke(app, ["fleet", "migrate", "--db", url]).exit_code == 0
    args = ["fleet", "mqtt-worker", "--db", url, "--username", "posguard-fleet"]
    args += ["--password-file", str(secret), "--tls-ca", str(ca)]
    r = runner.invoke(app, [*args, "--tls-cert", str(cert), "--tls-key", str(key)])
    assert r.exit_code == 0, r.output
    assert (seen["username"], seen["password"]) == ("posguard-fleet", "s3cret-from-a-file")
    ctx = seen["tls_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname

    r = runner.invoke(app, [*args, "--tls-cert", str(cert)])
    assert r.exit_code == 1
    assert r.stderr == "error: MQTT TLS: a client certificate needs both --tls-cert and --tls-key\n"
    r = runner.invoke(app, ["fleet", "mqtt-worker", "--db", url, "--password-file", "/nope"])
    assert r.exit_code == 1
    assert r.stderr.startswith("error: --password-file /nope: No such file")
