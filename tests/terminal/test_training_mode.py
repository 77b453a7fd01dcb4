"""Training mode end to end: the terminal runtime against the real host simulator (ISO 8583
bytes over TCP, both specs). Practice sales never move money: the host books nothing (no
ledger row, the card's balance unchanged), the journal keeps them out of the live totals, the
settlement that follows is balanced on the live sale alone, the slip says 培训 / TRAINING, and
the transaction event says training."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from posguard.common.events import EventKind
from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData
from posguard.host.server import HostServer
from posguard.host.testing import running_host
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]


@pytest.fixture(params=["iso87ascii", "unionpay"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[HostServer, Ledger, Terminal, list[Any], list[Any]]]:
    async with running_host(SeedData.model_validate(lab_seed()), spec=request.param) as (
        host,
        port,
        ledger,
    ):
        events: list[Any] = []
        printed: list[Any] = []
        term = Terminal(
            local_config(port, tmp_path / "j.db", spec=request.param),
            emit=lambda kind, code=None, **data: events.append((kind, code, data)),
            print_receipt=printed.append,
        )
        async with term:
            yield host, ledger, term, events, printed


async def test_practice_moves_no_money_and_settles_apart(rig: Any) -> None:
    host, ledger, t, events, printed = rig
    before = await host.call(lambda: ledger.balance_of_card(PAN))
    await t.sign_on()
    await t.set_training(True)
    practice = await t.sale(PAN, LAB_EXPIRY, 8800)
    assert practice.outcome is Outcome.APPROVED
    assert practice.training
    assert (practice.rrn or "").startswith("TR")
    beat = t.heartbeat_fields()  # the heartbeat says training, and the round trip to the host
    assert beat["training"] is True
    assert beat["failover"] is False
    assert 0 < float(beat["rtt_ms"]) < 5000
    declined = await t.sale(PAN, LAB_EXPIRY, 1051)  # a practice decline: amount ending 51
    assert (declined.outcome, declined.rc) == (Outcome.DECLINED, "51")
    void = await t.void(practice.stan or "")
    assert void.outcome is Outcome.APPROVED
    assert void.training
    assert await host.call(lambda: ledger.transactions(LAB_TID)) == []  # nothing booked
    assert await host.call(lambda: ledger.balance_of_card(PAN)) == before
    await t.set_training(False)
    live = await t.sale(PAN, LAB_EXPIRY, 1500)
    assert live.outcome is Outcome.APPROVED
    assert not live.training
    result = await t.settle()
    assert result.balanced  # the host's books and the terminal's live totals agree
    assert (result.totals.debit_count, result.totals.debit_amount) == (1, 1500)
    assert await host.call(lambda: ledger.balance_of_card(PAN)) == before - 1500
    # the slip and the event say training
    slip = ReceiptRenderer(load_profile("generic-58-gbk")).render(printed[0])
    assert "培训".encode("gbk") in slip
    assert b"TRAINING" in slip
    assert b"TRAINING" not in ReceiptRenderer(load_profile("generic-58-gbk")).render(printed[-1])
    txns = [d for k, _c, d in events if k is EventKind.TRANSACTION]
    assert [d.get("training", False) for d in txns] == [True, True, True, False]
    modes = [
        d["on"] for k, _c, d in events if k is EventKind.LIFECYCLE and d.get("event") == "training"
    ]
    assert modes == [True, False]
    # the journal says which records were practice
    assert [r.training for r in t.journal.records()] == [True, True, True, False]


async def test_training_from_the_command_line(tmp_path: Path) -> None:
    """`posguard terminal training on`, a sale, the journal says TRAINING/培训, `training off`."""
    import asyncio

    import yaml
    from typer.testing import CliRunner

    from posguard.cli import app

    async def posguard(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["terminal", *args])
        return result.exit_code, result.output

    async with running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger):
        cfg_file = tmp_path / "terminal.yaml"
        cfg = local_config(port, tmp_path / "journal.db")
        cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")), encoding="utf-8")
        c = ("-c", str(cfg_file))
        assert (await posguard("training", "on", *c))[1].startswith("training mode ON")
        rc, out = await posguard(
            "sale", *c, "--pan", PAN, "--expiry", LAB_EXPIRY, "--amount", "12.34"
        )
        assert rc == 0, out
        rc, out = await posguard("journal", *c)
        assert "TRAINING/培训" in out
        assert (await posguard("training", "off", *c))[1].startswith("training mode off")
        assert (await posguard("training", "maybe", *c))[0] == 2
        assert await host.call(lambda: ledger.transactions(LAB_TID)) == []
