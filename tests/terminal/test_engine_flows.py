"""Every operation against the real host simulator (ISO 8583 bytes over TCP), no faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from posguard.catalog import default_catalog
from posguard.common.events import EventKind, parse_event
from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host
from posguard.terminal.journal import TxnState
from posguard.terminal.pinpad import LabPinPad
from posguard.terminal.reconcile import reconcile
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN, PAN2, _, POOR = lab_cards()


@dataclass
class Rig:
    host: HostServer
    ledger: Ledger
    terminal: Terminal
    events: list[tuple[EventKind, str | None, dict[str, Any]]] = field(default_factory=list)
    receipts: list[Any] = field(default_factory=list)
    fail_receipts: bool = False

    async def host_rows(self) -> list[Any]:
        return await self.host.call(lambda: self.ledger.transactions(LAB_TID))  # type: ignore[return-value]

    async def differences(self) -> list[Any]:
        return reconcile(await self.host_rows(), self.terminal.journal.records())


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger):
        r = Rig(host, ledger, None)  # type: ignore[arg-type]

        def emit(kind: EventKind, code: str | None = None, **data: Any) -> None:
            # every event must pass the shared schema (no clear PAN, a code where needed)
            parse_event(
                {
                    "terminal_id": LAB_TID,
                    "merchant_id": "M1",
                    "seq": len(r.events),
                    "ts": "2026-11-25T10:00:00Z",
                    "kind": kind.value,
                    "code": code,
                    "data": data,
                }
            )
            r.events.append((kind, code, data))

        def print_receipt(receipt: Any) -> None:
            if r.fail_receipts:
                raise OSError("print queue disk full")
            r.receipts.append(receipt)

        r.terminal = Terminal(
            local_config(port, tmp_path / "j.db"), emit=emit, print_receipt=print_receipt
        )
        async with r.terminal:
            yield r


async def test_sale_void_refund_preauth_completion_and_settlement(rig: Rig) -> None:
    t = rig.terminal
    sale = await t.sale(PAN, LAB_EXPIRY, 1234)
    assert sale.outcome is Outcome.APPROVED
    assert sale.rrn
    assert sale.auth_code
    assert sale.masked_pan.startswith("621483")
    assert [r.copy for r in rig.receipts] == ["merchant", "cardholder"]
    assert rig.receipts[0].masked_pan == sale.masked_pan
    void = await t.void(sale.stan or "")
    assert void.outcome is Outcome.APPROVED
    assert t.journal.find(stan=sale.stan or "").voided  # type: ignore[union-attr]
    again = await t.void(sale.stan or "")
    assert (again.outcome, again.code) == (Outcome.FAILED_NO_CHARGE, "TXN.ORIGINAL_NOT_FOUND")
    s2 = await t.sale(PAN2, LAB_EXPIRY, 5000, entry_mode="071")
    refund = await t.refund(s2.stan or "", 2000)
    assert refund.outcome is Outcome.APPROVED
    pre = await t.preauth(PAN, LAB_EXPIRY, 10000)
    done = await t.completion(pre.stan or "", 11000)
    assert (pre.outcome, done.outcome) == (Outcome.APPROVED, Outcome.APPROVED)
    inquiry = await t.balance_inquiry(PAN, LAB_EXPIRY, pin_pad=LabPinPad("123456"))
    assert inquiry.outcome is Outcome.APPROVED
    assert inquiry.balance == 10**12 - 5000 + 2000 - 11000  # one account behind PAN and PAN2
    assert await rig.differences() == []
    settled = await t.settle()
    assert settled.balanced
    assert (settled.totals.debit_count, settled.totals.debit_amount) == (2, 16000)
    assert (settled.totals.credit_count, settled.totals.credit_amount) == (1, 2000)
    assert (settled.batch, settled.next_batch) == ("000001", "000002")
    nxt = await t.sale(PAN, LAB_EXPIRY, 1)
    assert nxt.batch == "000002"


async def test_decline_is_explained_from_the_catalog(rig: Rig) -> None:
    r = await rig.terminal.sale(POOR, LAB_EXPIRY, 5000)
    assert (r.outcome, r.rc, r.code) == (Outcome.DECLINED, "51", "TXN.INSUFFICIENT_FUNDS")
    entry = default_catalog()["TXN.INSUFFICIENT_FUNDS"]
    assert r.words.cardholder == entry.title  # the catalog's words, not a generic decline
    assert (r.words.merchant.zh, r.words.merchant.en) == (entry.steps[0].zh, entry.steps[0].en)
    assert not r.charged
    assert rig.terminal.journal.find(stan=r.stan or "").state is TxnState.DECLINED  # type: ignore[union-attr]
    wrong_pin = await rig.terminal.sale(PAN, LAB_EXPIRY, 100, pin_pad=LabPinPad("000000"))
    assert (wrong_pin.rc, wrong_pin.code) == ("55", "TXN.WRONG_PIN")
    assert rig.receipts == []
    assert await rig.differences() == []


@pytest.mark.parametrize(
    ("pan", "expiry", "amount", "code"),
    [
        ("6214839000000000015", LAB_EXPIRY, 100, "CARD.LUHN_INVALID"),
        (PAN, "2001", 100, "CARD.EXPIRED"),
        ("12345", LAB_EXPIRY, 100, "CARD.BAD_FORMAT"),
        (PAN, LAB_EXPIRY, 0, "TXN.INVALID_AMOUNT"),
    ],
)
async def test_local_checks_send_nothing(
    rig: Rig, pan: str, expiry: str, amount: int, code: str
) -> None:
    before = rig.terminal.journal.next_stan()
    r = await rig.terminal.sale(pan, expiry, amount)
    assert (r.outcome, r.code) == (Outcome.FAILED_NO_CHARGE, code)
    assert rig.terminal.journal.records() == []
    assert rig.terminal.journal.next_stan() == f"{int(before) + 1:06d}"
    assert await rig.host_rows() == []


async def test_approved_but_not_completed_is_reversed_with_96(rig: Rig) -> None:
    rig.fail_receipts = True
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 777)
    assert (r.outcome, r.reversal_reason) == (Outcome.REVERSED, "96")
    rows = await rig.host_rows()
    assert [(x.stan, x.status) for x in rows] == [(r.stan, "reversed")]
    reversal_events = [d for k, _c, d in rig.events if k is EventKind.REVERSAL]
    assert [e["stage"] for e in reversal_events] == ["queued", "acknowledged"]
    assert reversal_events[1]["reason"] == "96"
    assert await rig.differences() == []


async def test_host_forgets_session_then_terminal_signs_on_again(rig: Rig) -> None:
    t = rig.terminal
    assert (await t.sale(PAN, LAB_EXPIRY, 100)).outcome is Outcome.APPROVED
    rig.host.handler.sessions.sign_off(LAB_TID)  # e.g. the host restarted: answers 77
    first = await t.sale(PAN, LAB_EXPIRY, 200)
    assert (first.outcome, first.rc, first.code) == (Outcome.DECLINED, "77", "CFG.NOT_SIGNED_ON")
    # UnionPay practice: 77 is cured by signing on at once; the operator retries.
    assert t.services.session.keys is not None
    assert t.services.session.sign_ons == 2
    second = await t.sale(PAN, LAB_EXPIRY, 200)
    assert second.outcome is Outcome.APPROVED
    assert t.services.session.sign_ons == 2
    assert await rig.differences() == []


async def test_out_of_balance_settlement_uploads_the_batch(rig: Rig) -> None:
    t = rig.terminal
    sales = [await t.sale(PAN, LAB_EXPIRY, 100 * (i + 1)) for i in range(3)]
    assert all(s.outcome is Outcome.APPROVED for s in sales)
    # A stray sale under this terminal's ID that the terminal never made (e.g. a cloned
    # terminal); signing on from the clone also invalidates the terminal's keys.
    seed = SeedData.model_validate(lab_seed())
    async with HostClient(rig.host.port, tid=LAB_TID, seed=seed) as clone:
        await clone.sign_on()
        stray = await clone.sale(PAN2, 999, expiry=LAB_EXPIRY, stan="900001")
        assert stray["39"] == "00"
    result = await t.settle()
    # the upload closes the batch, and the host's answer to its end (field 48 flag 2) says the
    # books still differ: the terminal reports it instead of calling the batch balanced
    assert not result.balanced
    assert (result.rc, result.uploaded, result.next_batch) == ("00", 3, "000002")
    assert result.code == "RECON.TOTALS_MISMATCH"
    assert any(c == "RECON.TOTALS_MISMATCH" for k, c, _d in rig.events if k is EventKind.FAULT)
    rows = {r.stan: r.status for r in await rig.host_rows()}
    # the host keeps its books as authorised and records the difference for exception handling
    assert rows["900001"] == "approved"
    recorded: Any = await rig.host.call(lambda: rig.ledger.exceptions(tid=LAB_TID))
    assert [(e.kind, e.stan) for e in recorded] == [("missing_on_terminal", "900001")]
    assert [(d.kind, d.stan) for d in await rig.differences()] == [("host_only", "900001")]
