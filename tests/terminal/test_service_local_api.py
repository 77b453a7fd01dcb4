"""The supervised service sells: the cash register asks the running service over its local
socket (``posguard terminal sale --via-service``); the sale goes through the service's own
journal and host link, and a sale that would open the journal beside it is refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from posguard.cli import app
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.testing import (
    LAB_EXPIRY,
    LAB_TID,
    lab_cards,
    lab_seed,
    local_config,
)

from .service_rig import outbox_events, service_under_watchdog

PAN = lab_cards()[0]


async def cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, ["terminal", *args])
    return result.exit_code, result.output


def _events(path: Path) -> list[dict[str, object]]:
    return [{"kind": e.kind.value, "code": e.code, **e.data} for e in outbox_events(path)]


async def test_the_supervised_service_takes_a_sale_from_the_register(tmp_path: Path) -> None:
    data = tmp_path / "data"
    conf = tmp_path / "terminal.yaml"
    sale = ("sale", "-c", str(conf), "--pan", PAN, "--expiry", LAB_EXPIRY, "--json")
    async with running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger):
        conf.write_text(
            yaml.safe_dump(
                {
                    **local_config(port, data / "journal.db").model_dump(mode="json"),
                    "agent": {"transport": "none"},
                    "service": {"data_dir": str(data)},
                }
            )
        )
        rc, out = await cli(*sale, "--amount", "1.00", "--via-service", "--lang", "en")
        assert rc == 5  # nothing runs yet: ExitCode.UNAVAILABLE
        assert out.startswith("error: the terminal service is not running")
        sup = service_under_watchdog(conf, grace=5.0)
        runner = asyncio.create_task(asyncio.to_thread(sup.run))
        try:
            sock = data / "service.sock"
            deadline = asyncio.get_running_loop().time() + 60
            while not sock.exists():
                assert asyncio.get_running_loop().time() < deadline, "the service never listened"
                await asyncio.sleep(0.2)
            assert sock.stat().st_mode & 0o077 == 0  # only the service's own user
            rc, out = await cli(*sale, "--amount", "12.34", "--via-service")
            assert rc == 0, out
            answer = json.loads(out)
            assert answer["outcome"] == "approved"
            assert answer["amount"] == 1234
            assert PAN not in out
            rc, out = await cli(*sale, "--amount", "1.00")  # would open the journal beside it
            assert rc == 5  # ExitCode.UNAVAILABLE: the journal is in use
            assert "another terminal runtime" in out
        finally:
            sup.stop()
            stats = await asyncio.wait_for(runner, 30)
        txn = await host.call(lambda: ledger.find_txn(LAB_TID, answer["stan"], answer["batch"]))
    assert stats.history == ["boot"]
    assert txn is not None
    assert txn.status == "approved"  # type: ignore[attr-defined]
    sales = [e for e in _events(data / "outbox.db") if e["kind"] == "transaction"]
    assert [(e["outcome"], e["amount"]) for e in sales] == [("approved", 1234)]


async def test_bad_requests_get_a_one_line_error_and_touch_nothing(tmp_path: Path) -> None:
    from posguard.terminal.local_api import LocalApi

    class NoSales:
        async def sale(self, *a: object, **k: object) -> object:
            raise AssertionError("a bad request reached the terminal")

    api = LocalApi(NoSales(), tmp_path / "service.sock")  # type: ignore[arg-type]
    await api.start()
    try:
        answers = []
        for raw in (
            b"not json\n",
            b'{"op": "refund"}\n',
            b'{"op": "sale", "pan": "6225", "expiry": "2912", "amount": -5}\n',
            b'{"op": "sale", "pan": "62x5", "expiry": "2912", "amount": 5}\n',
            b"x" * 5000 + b"\n",
        ):
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "service.sock"))
            writer.write(raw)
            await writer.drain()
            answers.append(json.loads(await reader.readline()))
            writer.close()
    finally:
        await api.close()
    assert all(list(a) == ["error"] for a in answers)
    assert "not one JSON object" in answers[0]["error"]
    assert "only 'sale'" in answers[1]["error"]
    assert "positive whole number of fen" in answers[2]["error"]
    assert "digits" in answers[3]["error"]
    assert "at most 4096 bytes" in answers[4]["error"]
    assert not (tmp_path / "service.sock").exists()
