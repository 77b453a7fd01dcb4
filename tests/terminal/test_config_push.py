"""A parameter push (the remote ``update_config`` command) on a real terminal config file: checked
against the service's schema before anything is written, written in one rename with the
previous file kept, applied live or by a restart, and refused with a one-line reason for keys,
credentials, identity and unknown parameters; then through the real service under the
watchdog, over MQTT, as the fleet sends it."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from posguard.common.events import EventKind
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal import config_push
from posguard.terminal.agent.commands import CommandDispatcher, CommandStatus
from posguard.terminal.service import TerminalService, load_service_config
from posguard.terminal.testing import LAB_MID, lab_seed, local_config

from .service_rig import BrokerEvents, resumed_after_reboot, service_under_watchdog


def _write_config(tmp_path: Path, port: int = 9, **extra: Any) -> Path:
    term = local_config(port, tmp_path / "data" / "journal.db").model_dump(mode="json")
    term["hosts"][0]["tls"] = {"enabled": False, "ca_file": "/etc/posguard/acquirer-ca.pem"}
    conf = tmp_path / "terminal.yaml"
    body = {
        **term,
        "printer": {"kind": "file", "path": str(tmp_path / "paper.bin")},
        "service": {"data_dir": str(tmp_path / "data"), "local_api": False},
        **extra,
    }
    conf.write_text(yaml.safe_dump(body, allow_unicode=True))
    conf.chmod(0o600)
    return conf


def test_a_valid_push_is_written_atomically_and_keeps_the_previous_file(tmp_path: Path) -> None:
    conf = _write_config(tmp_path)
    before = conf.read_bytes()
    found = config_push.push(
        conf,
        {
            "timeouts": {"read": 12},
            "merchant_name": "静安便利店 Jing'an Mart",
            "printer.profile": "epson-tm-t88v-cn",
        },
    )
    assert [(c.key, c.old, c.new, c.apply.value) for c in found.changes] == [
        ("merchant_name", "posguard test shop", "静安便利店 Jing'an Mart", "live"),
        ("timeouts.read", 0.6, 12.0, "restart"),
        ("printer.profile", "generic-58-gbk", "epson-tm-t88v-cn", "restart"),
    ]
    cfg = load_service_config(conf)  # the file on disk is the new one, and valid
    assert cfg.terminal.timeouts.read == 12
    assert cfg.terminal.merchant_name == "静安便利店 Jing'an Mart"
    assert cfg.printer is not None
    assert cfg.printer.profile == "epson-tm-t88v-cn"
    assert cfg.terminal.tmk == local_config(9, tmp_path / "j").tmk  # untouched
    assert config_push.previous_path(conf).read_bytes() == before
    assert conf.stat().st_mode & 0o777 == 0o600  # a file with a lab TMK stays owner-only
    assert config_push.previous_path(conf).stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert config_push.summary(found) == (
        "3 changed; applied live: merchant_name; restart needed: timeouts.read, printer.profile"
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"tmk": "11" * 16}, "tmk cannot be pushed: it is key material"),
        (
            {"tmk_source": {"file": "/tmp/k"}},
            "tmk_source.file cannot be pushed: it is key material",
        ),
        ({"agent": {"token": "T.x"}}, "agent.token cannot be pushed: it is a credential"),
        ({"agent.key_file": "/tmp/k.pem"}, "agent.key_file cannot be pushed: it is key material"),
        (
            {"terminal_id": "T9999999"},
            "terminal_id cannot be pushed: it is the terminal's identity",
        ),
        ({"service.data_dir": "/"}, "service.data_dir cannot be pushed: it is where"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
        (
            {"hosts": [{"name": "p", "host": "10.0.0.9", "port": 5800, "tls": {"key_file": "k"}}]},
            "hosts[0].tls.key_file cannot be pushed: it is key material",
        ),
        ({"timeouts.read": 999}, "field 'timeouts.read': Input should be less than or equal"),
        ({"hosts": []}, "hosts must be a non-empty list"),
        ({"printer": {"profile": "epson-tm-t1000"}}, "unknown printer profile 'epson-tm-t1000'"),
        ({}, "no parameters given"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_refused_push_names_the_key_in_one_line_and_writes_nothing(
    tmp_path: Path, args: dict[str, Any], reason: str
) -> None:
    conf = _write_config(tmp_path)
    before = conf.read_bytes()
    with pytest.raises(config_push.PushRefusedError) as caught:
        config_push.push(conf, args)
    message = str(caught.value)
    assert message.startswith(reason), message
    assert "\n" not in message
    assert "11111111" not in message
    assert "T.x" not in message
    assert conf.read_bytes() == before
    assert not config_push.previous_path(conf).exists()


def test_pushed_hosts_keep_their_tls_files_and_the_same_values_change_nothing(
    tmp_path: Path,
) -> None:
    conf = _write_config(tmp_path)
    hosts = [
        {"name": "primary", "host": "10.0.0.2", "port": 5800, "tls": {"enabled": False}},
        {"name": "backup1", "host": "10.0.0.3", "port": 5801},
    ]
    found = config_push.push(conf, {"hosts": hosts})
    assert [c.key for c in found.changes] == ["hosts"]
    cfg = load_service_config(conf)
    assert [h.address for h in cfg.terminal.hosts] == ["10.0.0.2:5800", "10.0.0.3:5801"]
    assert str(cfg.terminal.hosts[0].tls.ca_file) == "/etc/posguard/acquirer-ca.pem"
    written = conf.read_bytes()
    again = config_push.push(conf, {"hosts": hosts})
    assert again.changes == ()
    assert config_push.summary(again).startswith("nothing changed")
    assert conf.read_bytes() == written


def test_the_heartbeat_reports_the_pushable_config_without_secrets(tmp_path: Path) -> None:
    conf = _write_config(
        tmp_path, agent={"transport": "http", "url": "http://127.0.0.1:9", "token": "T.secret"}
    )
    service = TerminalService(load_service_config(conf), config_path=conf)
    try:
        beat = service._heartbeat_data()
    finally:
        service.outbox.close()
        service.lock.release()
    assert "update_config" in beat["commands"]
    reported = beat["config"]
    assert reported["timeouts.read"] == 0.6
    assert reported["hosts"][0] == {
        "name": "primary",
        "host": "127.0.0.1",
        "port": 9,
        "tls": {"enabled": False, "server_name": None},
    }
    assert set(reported) <= set(config_push.PUSHABLE)
    text = json.dumps(reported)
    for secret in ("T.secret", local_config(9, tmp_path / "j").tmk or "-", "ca_file", "token"):
        assert secret not in text


def test_without_its_config_file_the_service_does_not_offer_update_config(tmp_path: Path) -> None:
    conf = _write_config(tmp_path)
    service = TerminalService(load_service_config(conf))
    try:
        assert "update_config" not in service._heartbeat_data()["commands"]
    finally:
        service.outbox.close()
        service.lock.release()


async def test_a_live_push_through_the_agent_changes_the_next_receipt_header(
    tmp_path: Path,
) -> None:
    conf = _write_config(tmp_path)
    service = TerminalService(load_service_config(conf), config_path=conf)
    dispatcher = CommandDispatcher(tmp_path / "cmd.db", service._handlers, service.outbox.emit)
    try:
        done = await dispatcher.handle(
            json.dumps({"command_id": "cfg-1", "name": "update_config", "args": {"operator": "07"}})
        )
        refused = await dispatcher.handle(
            {"command_id": "cfg-2", "name": "update_config", "args": {"vault_key": {"env": "X"}}}
        )
        assert service.terminal.cfg.operator == "07"  # the next transaction's operator
        assert service.terminal.operator_watch.operator == "07"
        assert service._heartbeat_data()["config"]["operator"] == "07"
        assert service.exit_code == 0  # nothing waits for a restart
    finally:
        dispatcher.close()
        service.outbox.close()
        service.lock.release()
    assert done.status is CommandStatus.OK
    assert done.detail == (
        "1 changed; applied live: operator (previous file kept as terminal.yaml.prev)"
    )
    assert refused.status is CommandStatus.FAILED
    assert refused.detail == ("config refused: vault_key.env cannot be pushed: it is key material")
    assert load_service_config(conf).terminal.operator == "07"


async def test_a_push_to_the_running_service_over_mqtt_restarts_it_onto_the_new_config(
    tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    """The real `posguard terminal run` under the watchdog: a push that needs a restart is
    answered, the service restarts (not a crash), and its next heartbeat reports the new
    values; a refused push changes nothing."""
    import aiomqtt

    from posguard.terminal.agent.publish import commands_topic, events_topic

    host, mport = mqtt_broker
    tid = "C" + uuid.uuid4().hex[:7].upper()  # a fresh MQTT session per run
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        conf = _write_config(
            tmp_path,
            port,
            agent={"transport": "mqtt", "host": host, "port": mport, "heartbeat_s": 60},
        )
        raw = yaml.safe_load(conf.read_text())
        raw["terminal_id"] = tid
        conf.write_text(yaml.safe_dump(raw, allow_unicode=True))
        sup = service_under_watchdog(conf)
        async with aiomqtt.Client(host, mport, identifier=f"fleet-{tid}") as fleet:
            await fleet.subscribe(events_topic(LAB_MID, tid), qos=1)
            wait_for = BrokerEvents(fleet).wait_for

            async def send(command_id: str, args: dict[str, Any]) -> dict[str, Any]:
                cmd = {"command_id": command_id, "name": "update_config", "args": args}
                await fleet.publish(commands_topic(LAB_MID, tid), json.dumps(cmd), qos=1)
                ack = await asyncio.wait_for(
                    wait_for(
                        lambda e: (
                            e["kind"] == EventKind.COMMAND_RESULT.value
                            and e["data"]["command_id"] == command_id
                        )
                    ),
                    30,
                )
                return dict(ack["data"])

            runner = asyncio.create_task(asyncio.to_thread(sup.run))
            try:
                first = await asyncio.wait_for(wait_for(lambda e: e["kind"] == "heartbeat"), 60)
                refused = await send("push-bad", {"agent": {"password": "hunter2"}})
                pushed = await send("push-1", {"timeouts": {"read": 12, "connect": 2}})
                resumed = await asyncio.wait_for(
                    wait_for(resumed_after_reboot),
                    60,
                )
                after = await asyncio.wait_for(wait_for(lambda e: e["kind"] == "heartbeat"), 60)
            finally:
                sup.stop()
                stats = await asyncio.wait_for(runner, 30)
    assert first["data"]["config"]["timeouts.read"] == 0.6
    assert refused == {
        "command_id": "push-bad",
        "status": "failed",
        "detail": "config refused: agent.password cannot be pushed: it is a credential",
    }
    assert pushed["status"] == "ok"
    assert pushed["detail"] == (
        "2 changed; restart needed: timeouts.connect, timeouts.read "
        "(previous file kept as terminal.yaml.prev); restarting in 1 s"
    )
    assert resumed["terminal_id"] == tid
    assert after["data"]["config"]["timeouts.read"] == 12.0
    assert after["data"]["config"]["timeouts.connect"] == 2.0
    assert stats.history == ["boot", "reboot"]
    assert stats.crashes == 0
    assert load_service_config(conf).terminal.timeouts.read == 12.0
    assert os.path.exists(config_push.previous_path(conf))


def test_restore_on_the_terminal_puts_back_the_file_before_the_push(tmp_path: Path) -> None:
    """`posguard terminal config restore`: the way back from a push, on the terminal itself;
    a second restore undoes the first; `show` prints what the heartbeat reports."""
    from typer.testing import CliRunner

    from posguard.cli import app

    conf = _write_config(tmp_path)
    runner = CliRunner()
    missing = runner.invoke(app, ["terminal", "config", "restore", "--config", str(conf)])
    assert missing.exit_code == 4
    assert "没有推送前保留的配置" in missing.output
    before = load_service_config(conf)
    config_push.push(conf, {"timeouts.read": 12})
    args = ["terminal", "config", "restore", "--config", str(conf), "--lang", "en"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "restored" in done.output
    assert load_service_config(conf) == before
    assert load_service_config(config_push.previous_path(conf)).terminal.timeouts.read == 12
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert load_service_config(conf).terminal.timeouts.read == 12
    shown = runner.invoke(app, ["terminal", "config", "show", "--config", str(conf)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["timeouts.read"] == 12.0
    config_push.previous_path(conf).write_text("timeouts: {read: -1}\n")  # damaged: refused
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2
    assert load_service_config(conf).terminal.timeouts.read == 12  # untouched
