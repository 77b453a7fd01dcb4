"""The proxy's HTTP control API, fault timelines, and the `posguard host` CLI."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from posguard.common.errors import ConfigError
from posguard.common.testing import line_containing
from posguard.host.cli import app
from posguard.host.control import ControlServer
from posguard.host.faults import FaultKind
from posguard.host.testing import HostClient, running_host, running_proxy
from posguard.host.timeline import parse_timeline, run_timeline

from .conftest import Cards


async def test_control_api_get_put_post_delete() -> None:
    async with running_proxy(9) as proxy, ControlServer(proxy) as control:
        base = f"http://127.0.0.1:{control.port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            assert (await http.get("/faults")).json()["faults"] == []
            r = await http.put(
                "/faults",
                json=[{"kind": "delay", "delay_ms": 100}, {"kind": "drop_response", "frames": 1}],
            )
            assert r.status_code == 200
            assert [f.kind for f in proxy.faults()] == [FaultKind.DELAY, FaultKind.DROP_RESPONSE]
            assert r.json()["faults"][1]["direction"] == "response"
            r = await http.post("/faults", json={"kind": "corrupt", "position": 3})
            assert len(r.json()["faults"]) == 3
            r = await http.delete("/faults/delay")
            assert [f["kind"] for f in r.json()["faults"]] == ["drop_response", "corrupt"]
            r = await http.put("/faults", json={"kind": "slice", "pieces": 1})
            assert r.status_code == 422
            assert r.json()["details"][0]["where"].endswith("pieces")
            assert len(proxy.faults()) == 2  # an invalid PUT changes nothing
            assert (await http.put("/faults", content=b"{nope")).status_code == 422
            assert (await http.delete("/faults/nonsense")).status_code == 404
            assert (await http.patch("/faults", json={})).status_code == 405
            assert (await http.delete("/faults")).json()["faults"] == []


async def test_control_api_drives_a_live_host_path(cards: Cards) -> None:
    async with (
        running_host() as (_h, port, _ledger),
        running_proxy(port) as proxy,
        ControlServer(proxy) as control,
    ):
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{control.port}") as http,
            HostClient(proxy.port, timeout=0.4) as c,
        ):
            await c.sign_on()
            await http.put("/faults", json={"kind": "blackhole"})
            with pytest.raises(TimeoutError):
                await c.sale(cards.good, 100)
            await http.delete("/faults")
        async with HostClient(proxy.port) as c2:
            assert (await c2.sign_on())["39"] == "00"


async def test_control_api_drop_connect_times_out_connects_until_deleted(cards: Cards) -> None:
    async with (
        running_host() as (_h, port, _ledger),
        running_proxy(port) as proxy,
        ControlServer(proxy) as control,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{control.port}", timeout=5) as http,
    ):
        live = await HostClient(proxy.port).connect()  # open before the firewall change
        r = await http.post("/faults", json={"kind": "drop_connect"})
        assert r.status_code == 200
        assert r.json()["faults"][0]["kind"] == "drop_connect"
        with pytest.raises(TimeoutError):  # not ECONNREFUSED: the SYN is dropped
            await HostClient(proxy.port, timeout=0.4).connect()
        assert (await live.sign_on())["39"] == "00"  # the open connection is not affected
        bad = await http.post("/faults", json={"kind": "drop_connect", "frames": 1})
        assert bad.status_code == 422
        assert "do not apply" in bad.json()["details"][0]["error"]
        r = await http.delete("/faults/drop_connect")
        assert r.json()["faults"] == []
        async with HostClient(proxy.port, timeout=2) as c:
            assert (await c.sign_on())["39"] == "00"
            assert (await c.sale(cards.good, 100))["39"] == "00"
        await live.close()


async def test_timeline_drops_connects_then_clears() -> None:
    plan = parse_timeline(
        [{"at": 0, "set": {"kind": "drop_connect"}}, {"at": 0.3, "clear": "drop_connect"}]
    )
    async with running_proxy(9) as proxy:
        task = asyncio.create_task(run_timeline(proxy, plan))
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy.port), 0.2)
        await task
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy.port), 0.5)
        writer.close()


async def test_timeline_sets_and_clears_in_order() -> None:
    plan = parse_timeline(
        [
            {"at": 0, "set": {"kind": "delay", "delay_ms": 5}},
            {"at": 0.05, "set": {"kind": "drop_response"}},
            {"at": 0.1, "clear": "delay"},
        ]
    )
    async with running_proxy(9) as proxy:
        task = asyncio.create_task(run_timeline(proxy, plan))
        await asyncio.sleep(0.02)
        assert [f.kind for f in proxy.faults()] == [FaultKind.DELAY]
        await task
        assert [f.kind for f in proxy.faults()] == [FaultKind.DROP_RESPONSE]


def test_timeline_errors_say_where() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        parse_timeline([{"at": 1}])
    with pytest.raises(ConfigError, match="time order"):
        parse_timeline([{"at": 2, "clear": "all"}, {"at": 1, "clear": "all"}])
    with pytest.raises(ConfigError) as info:
        parse_timeline([{"at": 0, "set": {"kind": "teleport"}}])
    assert "steps.0.set.kind" in str(info.value)


def test_cli_seed_and_journal(tmp_path: Path, cards: Cards) -> None:
    runner = CliRunner()
    out = tmp_path / "seed.yaml"
    assert runner.invoke(app, ["seed", "--out", str(out)]).exit_code == 0
    assert "6214830000000000015" in out.read_text()
    db = tmp_path / "host.db"

    async def traffic() -> None:
        async with running_host(db=str(db)) as (_h, port, _l), HostClient(port) as c:
            await c.sign_on()
            await c.sale(cards.good, 4_200)

    asyncio.run(traffic())
    result = runner.invoke(app, ["journal", "--db", str(db), "--tid", "10000001", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["mti"] for r in rows] == ["0800", "0200"]
    assert rows[1]["pan_masked"] == "621483*********0015"
    assert rows[1]["amount"] == 4_200
    assert cards.good not in result.output
    missing = runner.invoke(app, ["journal", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2


async def test_cli_serve_runs_a_real_host(tmp_path: Path, cards: Cards) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "posguard.cli",
        "host",
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "h.db"),
        "--spec",
        "unionpay",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        line = await line_containing(proc.stdout, "host listening on", 30)
        port = int(line.split()[3].rsplit(":", 1)[1])
        async with HostClient(port, spec="unionpay") as c:
            assert (await c.sign_on())["39"] == "00"
            assert (await c.sale(cards.good, 100))["39"] == "00"
    finally:
        proc.terminate()
        await proc.wait()


def test_every_fault_names_a_catalog_code() -> None:
    from posguard.catalog.loader import default_catalog
    from posguard.host.faults import Fault

    catalog = default_catalog()
    for kind in FaultKind:
        assert Fault(kind=kind).code in catalog


async def test_cli_proxy_with_control_port_and_timeline(tmp_path: Path, cards: Cards) -> None:
    plan = tmp_path / "t.yaml"
    plan.write_text("steps:\n  - {at: 0, set: {kind: delay, delay_ms: 1}}\n", encoding="utf-8")
    async with running_host() as (_h, port, _led):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "posguard.cli",
            "host",
            "proxy",
            "--upstream",
            f"127.0.0.1:{port}",
            "--timeline",
            str(plan),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            assert proc.stdout is not None
            line = await line_containing(proc.stdout, "proxy listening on port", 30)
            proxy_port = int(line.split("port ")[1].split()[0])
            control = line.split("control ")[1].split()[0].rstrip(";")
            async with httpx.AsyncClient(timeout=5) as http:
                for _ in range(50):  # the timeline's first step lands right after start
                    faults = (await http.get(control)).json()["faults"]
                    if faults:
                        break
                    await asyncio.sleep(0.05)
                assert [f["kind"] for f in faults] == ["delay"]
            async with HostClient(proxy_port) as c:
                assert (await c.sign_on())["39"] == "00"
                assert (await c.sale(cards.good, 100))["39"] == "00"
        finally:
            proc.terminate()
            await proc.wait()
