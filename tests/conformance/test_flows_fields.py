"""Other flows and fields against a scripted reference host (UnionPay practice).

Sources: UnionPay POS terminal message specification (中国银联POS终端消息域说明): field 22
(服务点输入方式码: digits 1-2 how the card was read, digit 3 PIN capability 1 with PIN, 2
without), field 26 (服务点PIN获取码) and 53 (安全控制信息) when field 52 is present; the
transaction table (预授权完成撤销 0200, 3 = 200000, 60.1 = 21, reversible); refund (退货)
as a store-and-forward advice.
"""

from __future__ import annotations

from typing import Any

from conftest import EXPIRY, PAN
from posguard.common.events import EventKind
from posguard.iso8583.codec import Message
from posguard.iso8583.fields import parse_field60
from posguard.iso8583.keys import decrypt_pin
from posguard.terminal.journal import TxnState
from posguard.terminal.pinpad import LabPinPad
from posguard.terminal.result import Outcome


async def test_field22_pin_digit_and_fields_26_53_with_a_pin(lab_factory: Any) -> None:
    """Rule: field 22 digit 3 is 1 when a PIN was entered, 2 when not (052: a no-PIN chip
    sale); follow-ups carry no PIN; with field 52 the terminal also sends 26 and 53.
    Source: UnionPay POS message specification, fields 22, 26, 52, 53."""
    async with lab_factory(lambda _m: None) as lab:
        no_pin = await lab.terminal.sale(PAN, EXPIRY, 1000)
        with_pin = await lab.terminal.sale(PAN, EXPIRY, 1000, pin_pad=LabPinPad("123456"))
        await lab.terminal.void(with_pin.stan or "")
        first, second, void = lab.host.requests("0200")
        assert (first["22"], "52" in first, "26" in first, "53" in first) == (
            "052",
            False,
            False,
            False,
        )
        assert (second["22"], second["26"], second["53"]) == ("051", "12", "2600000000000000")
        assert lab.host.keys is not None
        assert isinstance(second["52"], bytes)
        assert decrypt_pin(lab.host.keys.pin_key, second["52"], PAN) == "123456"
        assert (void["22"], "52" in void) == ("052", False)
        assert no_pin.outcome is Outcome.APPROVED


async def test_completion_void_is_0200_with_60_1_21_and_reversible(lab_factory: Any) -> None:
    """Rule: a pre-auth completion is voided with 0200, field 3 = 200000, 60.1 = 21, and is
    reversed like the other pre-auth follow-ups when its answer is lost.
    Source: UnionPay POS transaction table (预授权完成撤销)."""
    lost: list[str] = []

    def script(msg: Message) -> Any:
        f60 = parse_field60(str(msg["60"])) if "60" in msg else None
        if msg["t"] == "0200" and f60 is not None and f60.type_code == "21" and not lost:
            lost.append(str(msg["11"]))
            from refhost import NO_ANSWER

            return NO_ANSWER
        return None

    async with lab_factory(script) as lab:
        pre = await lab.terminal.preauth(PAN, EXPIRY, 5000)
        comp = await lab.terminal.completion(pre.stan or "", 4000)
        assert comp.outcome is Outcome.APPROVED
        void = await lab.terminal.void(comp.stan or "")
        assert (void.kind, void.outcome, void.reversal_reason) == (
            "completion_void",
            Outcome.PENDING_REVERSAL,
            "98",
        )
        (req,) = [m for m in lab.host.requests("0200") if m["11"] == void.stan]
        assert (req["3"], parse_field60(str(req["60"])).type_code, req["61"][6:12]) == (
            "200000",
            "21",
            comp.stan,
        )
        await lab.terminal.drain()
        (rev,) = lab.host.requests("0400")
        assert (rev["11"], rev["39"], rev["3"]) == (void.stan, "98", "200000")
        again = await lab.terminal.void(comp.stan or "")
        assert again.outcome is Outcome.APPROVED
        assert lab.terminal.journal.totals().debit_count == 0


async def test_refund_advice_retries_transient_answers_and_reads_as_pending(
    lab_factory: Any,
) -> None:
    """Rule: a refund advice is stored and forwarded: on transient answers (90, 91, 96, 98,
    06) it stays queued and the operator message says pending, not credited; it is closed
    when the host takes it. Source: UnionPay POS practice for 退货 (advice, store-and-forward)."""
    answers = ["96", "91", "00"]

    def script(msg: Message) -> Any:
        if msg["t"] == "0220":
            return {"39": answers.pop(0)}
        return None

    async with lab_factory(script) as lab:
        sale = await lab.terminal.sale(PAN, EXPIRY, 5000)
        r = await lab.terminal.refund(sale.stan or "", 1200)
        assert (r.outcome, r.rc) == (Outcome.STORED, "96")
        assert "尚未退回" in r.words.cardholder.zh
        assert "not credited" in r.words.cardholder.en
        assert lab.terminal.journal.pending_advices() != []
        assert await lab.terminal.catch_up() == (0, 1)  # 91: still queued
        assert await lab.terminal.catch_up() == (0, 0)  # 00
        rec = lab.terminal.journal.find(stan=r.stan or "")
        assert rec.state is TxnState.COMPLETED  # type: ignore[union-attr]
        assert lab.terminal.journal.totals().credit_amount == 1200


async def test_refund_advice_declined_raises_a_merchant_incident(lab_factory: Any) -> None:
    """Rule: only a real decline closes a queued refund advice; the refund did not happen,
    so a merchant-facing fault is raised and it is not counted as forwarded.
    Source: UnionPay POS practice for 退货 (advice)."""
    answers = ["98", "25"]

    def script(msg: Message) -> Any:
        if msg["t"] == "0220":
            return {"39": answers.pop(0)}
        return None

    async with lab_factory(script) as lab:
        sale = await lab.terminal.sale(PAN, EXPIRY, 5000)
        r = await lab.terminal.refund(sale.stan or "", 1200)
        assert r.outcome is Outcome.STORED
        report = await lab.terminal.services.advices.run(only_due=False)
        assert (report.forwarded, report.declined) == ([], [r.stan])
        assert "TXN.REFUND_DECLINED" in lab.events.codes(EventKind.FAULT)
        assert lab.terminal.journal.totals().credit_count == 0
