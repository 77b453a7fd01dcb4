"""Training mode (培训模式) against a scripted reference host.

Rule (docs/iso8583-profile.md, "Training mode"): a training request carries field 63 =
``TRAINING`` under the MAC (ISO 8583:1987 field 63, reserved private; field 64 covers every
field before it), the UnionPay header's terminal status says ``1`` (test state, CUPS header
byte "terminal status") as well; a host that honours it echoes field 63; an approval without the
echo may have been booked as live, so the terminal reverses it (reason 96, UnionPay 冲正原因
96: approved but not completed on the terminal).
"""

from __future__ import annotations

from typing import Any

from conftest import EXPIRY, PAN
from posguard.iso8583.codec import Message
from posguard.terminal.journal import TxnState
from posguard.terminal.result import Outcome


async def test_training_sale_is_marked_and_kept_out_of_settlement(lab_factory: Any) -> None:
    def script(msg: Message) -> Any:
        if msg.get("63") == "TRAINING":
            return {"63": "TRAINING", "37": "TR0001000001", "38": "TRN001"}
        return None

    async with lab_factory(script) as lab:
        t = lab.terminal
        await t.sign_on()
        assert await t.set_training(True)
        practice = await t.sale(PAN, EXPIRY, 5000)
        assert (practice.outcome, practice.training, practice.charged) == (
            Outcome.APPROVED,
            True,
            False,
        )
        (sent,) = lab.host.requests("0200")
        assert sent["63"] == "TRAINING"
        assert isinstance(sent["64"], bytes)  # under the MAC the host verified
        assert all(r.training for r in lab.printed)  # both copies say TRAINING / 培训
        assert await t.set_training(False)
        live = await t.sale(PAN, EXPIRY, 1200)
        assert (live.outcome, live.training, live.charged) == (Outcome.APPROVED, False, True)
        assert "63" not in lab.host.requests("0200")[1]
        assert t.journal.totals().debit_amount == 1200  # the practice sale counts nowhere
        await t.settle()
        (settle,) = lab.host.requests("0500")
        assert settle["48"][:15] == "000000001200001"  # debit amount 12.00, one debit
        # a training sale cannot be voided live (it was never live)
        void = await t.void(practice.stan or "")
        assert void.code == "TXN.ORIGINAL_NOT_FOUND"


async def test_host_that_ignores_training_gets_the_sale_reversed(lab_factory: Any) -> None:
    """The host approved without echoing field 63: it may have booked real money. The terminal
    reverses at once (0400, reason 96, itself marked training) and says why."""

    async with lab_factory(lambda msg: None) as lab:  # approves everything, echoes nothing
        t = lab.terminal
        await t.sign_on()
        await t.set_training(True)
        r = await t.sale(PAN, EXPIRY, 5000)
        assert r.outcome is Outcome.REVERSED
        assert r.code == "CFG.TRAINING_NOT_SUPPORTED"
        assert not r.charged
        (rev,) = lab.host.requests(("0400", "0401"))
        assert (rev["39"], rev["11"], rev["63"]) == ("96", r.stan, "TRAINING")
        rec = t.journal.find(stan=r.stan or "")
        assert rec is not None
        assert rec.training
        assert rec.state is TxnState.REVERSED
        assert lab.printed == []  # nothing to print for an undone practice


async def test_training_mode_survives_a_restart(lab_factory: Any, tmp_path: Any) -> None:
    async with lab_factory(lambda msg: {"63": "TRAINING"} if "63" in msg else None) as lab:
        await lab.terminal.set_training(True)
    async with lab_factory(lambda msg: {"63": "TRAINING"} if "63" in msg else None) as lab:
        assert lab.terminal.training  # read back from the journal
        await lab.terminal.sign_on()
        r = await lab.terminal.sale(PAN, EXPIRY, 100)
        assert r.training
        assert lab.host.requests("0200")[0]["63"] == "TRAINING"
