"""Operator errors the terminal reports (catalog OPS.*), from real operations against the real
host simulator: a void right after the sale, a refund where a void was due, a second wrong-PIN
decline on one card, a keyed number that fails the card check, three chip-to-swipe fallbacks,
three cancelled operations; each a fault event naming the operator, practice ones marked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from posguard.common.events import EventKind, parse_event
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]


@pytest.fixture
async def term(tmp_path: Path) -> AsyncIterator[tuple[Terminal, list[tuple[str, dict[str, Any]]]]]:
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        ops: list[tuple[str, dict[str, Any]]] = []

        def emit(kind: EventKind, code: str | None = None, **data: Any) -> None:
            parse_event(  # each one a valid event of the shared schema
                {
                    "terminal_id": LAB_TID,
                    "merchant_id": "M1",
                    "seq": 1,
                    "kind": kind.value,
                    "ts": "2026-11-25T10:00:00Z",
                    "code": code,
                    "data": data,
                }
            )
            if code and code.startswith("OPS."):
                ops.append((code, data))

        cfg = local_config(port, tmp_path / "j.db").model_copy(update={"operator": "07"})
        async with Terminal(cfg, emit=emit) as t:
            yield t, ops


async def test_operator_errors_are_reported(term: Any) -> None:
    t, ops = term
    sale = await t.sale(PAN, LAB_EXPIRY, 1000)
    await t.void(sale.stan)
    assert ops[-1][0] == "OPS.QUICK_VOID"
    assert ops[-1][1]["operator"] == "07"
    other = await t.sale(PAN, LAB_EXPIRY, 2000)
    await t.refund(other.stan, 2000)  # same batch, not settled: a void was due
    assert ops[-1][0] == "OPS.REFUND_INSTEAD_OF_VOID"
    bad = PAN[:-1] + str((int(PAN[-1]) + 1) % 10)  # fails the Luhn check
    await t.sale(bad, LAB_EXPIRY, 500, entry_mode="012")
    assert ops[-1][0] == "OPS.KEYED_ENTRY_ERROR"
    assert ops[-1][1]["cause"].startswith("CARD.")
    before = len(ops)
    for _ in range(2):
        fell_back = await t.sale(PAN, LAB_EXPIRY, 300, entry_mode="802")
        assert fell_back.outcome.value == "approved"  # a fallback swipe still pays
    assert len(ops) == before  # two fallbacks are not yet a pattern
    await t.sale(PAN, LAB_EXPIRY, 300, entry_mode="802")
    assert ops[-1][0] == "OPS.CARD_READ_FALLBACK"
    for stage in ("amount", "card", "menu"):
        t.note_cancelled(stage)
    assert ops[-1] == (
        "OPS.OPERATION_CANCELLED",
        {"operator": "07", "stage": "menu", "count": 3, "within_s": 600},
    )
    await t.set_training(True)  # the practice host declines 55 for amounts ending 55
    for _ in range(2):
        await t.sale(PAN, LAB_EXPIRY, 1055)
    assert ops[-1][0] == "OPS.PIN_RETRIES"
    assert ops[-1][1]["training"] is True
    assert PAN not in str(ops)
    assert [c for c, _ in ops] == [
        "OPS.QUICK_VOID",
        "OPS.REFUND_INSTEAD_OF_VOID",
        "OPS.KEYED_ENTRY_ERROR",
        "OPS.CARD_READ_FALLBACK",
        "OPS.OPERATION_CANCELLED",
        "OPS.PIN_RETRIES",
    ]
