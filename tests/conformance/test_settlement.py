"""Settlement and batch upload against a scripted reference host (UnionPay practice).

Sources: UnionPay POS terminal message specification (中国银联POS终端消息域说明): field 48 of
0500/0510 = 借记总金额 N12 + 借记总笔数 N3 + 贷记总金额 N12 + 贷记总笔数 N3 + 对账应答代码
N1 (1 balanced, 2 out of balance, 3 error); batch upload (批上送) 0320 with 60.3 = 201,
magnetic-stripe transactions up to 8 per message in field 48 (2 + 8 x 40 = 322 digits),
end of upload 60.3 = 202; the batch number (60.2) is assigned by the host in the sign-on
answer.
"""

from __future__ import annotations

from typing import Any

from conftest import EXPIRY, PAN
from posguard.iso8583.codec import Message
from posguard.iso8583.fields import parse_field60, parse_upload_entries
from posguard.terminal.result import Outcome


def settling(flag: str, rc: str = "00", end_flag: str = "1") -> Any:
    def script(msg: Message) -> Any:
        if msg["t"] == "0500":
            return {"39": rc, "48": str(msg["48"])[:30] + flag}
        if msg["t"] == "0320" and parse_field60(str(msg["60"])).net_code == "202":
            return {"39": "00", "48": "0" * 30 + end_flag}
        return None

    return script


async def test_field48_totals_layout_amount_before_count(lab_factory: Any) -> None:
    """Rule: 0500 field 48 is debit amount N12, debit count N3, credit amount N12, credit count
    N3, then the flag 0. Source: UnionPay POS message specification, field 48 (结算)."""
    async with lab_factory(settling("1")) as lab:
        for amount in (1000, 2500):
            assert (await lab.terminal.sale(PAN, EXPIRY, amount)).outcome is Outcome.APPROVED
        result = await lab.terminal.settle()
        assert result.balanced
        (req,) = lab.host.requests("0500")
        assert req["48"] == "000000003500" + "002" + "000000000000" + "000" + "0"


async def test_flag_2_with_rc_00_uploads_the_batch_ending_202(lab_factory: Any) -> None:
    """Rule: out of balance is said by the 0510's field 48 flag (对账应答代码 2), whatever
    field 39; the terminal uploads the batch (magnetic stripe: up to 8 per 0320 in field 48;
    chip: one per 0320), ends with 60.3 = 202, and closes the batch.
    Source: UnionPay POS message specification (结算 / 批上送 / 批上送结束)."""
    async with lab_factory(settling("2")) as lab:
        swiped = [await lab.terminal.sale(PAN, EXPIRY, 100 + i, entry_mode="021") for i in range(9)]
        chip = await lab.terminal.sale(PAN, EXPIRY, 5000, entry_mode="051")
        assert all(s.outcome is Outcome.APPROVED for s in [*swiped, chip])
        result = await lab.terminal.settle()
        uploads = lab.host.requests("0320")
        nets = [parse_field60(str(m["60"])).net_code for m in uploads]
        assert nets == ["201", "201", "201", "202"]
        packed = [parse_upload_entries(str(m["48"])) for m in uploads[:2]]
        assert [len(p) for p in packed] == [8, 1]
        assert [e.stan for p in packed for e in p] == [s.stan for s in swiped]
        assert [e.amount for p in packed for e in p] == [100 + i for i in range(9)]
        assert all(e.pan == PAN for p in packed for e in p)
        assert (uploads[2]["11"], uploads[2]["2"], uploads[2]["4"]) == (
            chip.stan,
            PAN,
            "000000005000",
        )
        assert (result.balanced, result.uploaded, result.next_batch) == (True, 10, "000002")
        assert lab.terminal.journal.current_batch() == "000002"


async def test_flag_1_with_rc_95_is_balanced_unless_the_rc95_variant(lab_factory: Any) -> None:
    """Rule: field 48 decides; rc 95 alone (no field-48 flag) means out of balance only in the
    variant configured for non-UnionPay hosts. Source: UnionPay POS message specification
    (对账应答代码); 95 as the out-of-balance code of ISO 8583 hosts."""

    def rc95_only(msg: Message) -> Any:
        if msg["t"] == "0500":
            return {"39": "95"}
        return None

    async with lab_factory(settling("1", rc="95")) as lab:
        await lab.terminal.sale(PAN, EXPIRY, 1000)
        result = await lab.terminal.settle()
        assert (result.balanced, result.uploaded) == (True, 0)
    async with lab_factory(rc95_only, settle_rc95_out_of_balance=True) as lab:
        await lab.terminal.sale(PAN, EXPIRY, 1000)
        result = await lab.terminal.settle()
        assert result.uploaded == 1
        assert [parse_field60(str(m["60"])).net_code for m in lab.host.requests("0320")] == [
            "201",
            "202",
        ]


async def test_flag_3_is_an_error_and_keeps_the_batch_open(lab_factory: Any) -> None:
    """Rule: flag 3 (对账错) is a failed settlement: nothing uploaded, the batch stays open
    for another try. Source: UnionPay POS message specification (对账应答代码 3)."""
    async with lab_factory(settling("3")) as lab:
        await lab.terminal.sale(PAN, EXPIRY, 1000)
        result = await lab.terminal.settle()
        assert (result.balanced, result.uploaded, result.next_batch) == (False, 0, "000001")
        assert result.code == "RECON.SETTLEMENT_FAILED"
        assert lab.host.requests("0320") == []


async def test_batch_number_comes_from_the_sign_on_answer(lab_factory: Any) -> None:
    """Rule: the host assigns the batch number (60.2) in the sign-on answer; the terminal
    adopts it for the transactions that follow. Source: UnionPay POS practice (批次号在签到
    应答中下传)."""
    async with lab_factory(lambda _m: None, batch="000317") as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert r.batch == "000317"
        (sale,) = lab.host.requests("0200")
        assert parse_field60(str(sale["60"])).batch == "000317"
