"""Field 39 outcomes of a sale, against a scripted reference host (UnionPay practice).

Sources: UnionPay POS response-code appendix (应答码表: class A approvals 00/10/11 and the
"defective success" codes A2, A4, A5, A6 有缺陷的成功; field 4 of a partial approval carries
the approved amount); ISO 8583:1987 field 39.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import EXPIRY, PAN
from posguard.iso8583.codec import Message
from posguard.terminal.journal import TxnState
from posguard.terminal.result import Outcome


def answering(rc: str, **fields: Any) -> Any:
    def script(msg: Message) -> Any:
        if msg["t"] == "0200":
            return {"39": rc, "37": "000000000001", "38": "AB1234", **fields}
        return None

    return script


async def test_rc_11_is_an_approval(lab_factory: Any) -> None:
    """Rule: 11 (approved, VIP) is class A: the sale completes, the receipt prints and no
    reversal is sent. Source: UnionPay POS response-code appendix, class A."""
    async with lab_factory(answering("11")) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.rc, r.charged) == (Outcome.APPROVED, "11", True)
        assert [p.copy for p in lab.printed] == ["merchant", "cardholder"]
        assert lab.terminal.journal.find(stan=r.stan or "").state is TxnState.COMPLETED  # type: ignore[union-attr]
        assert lab.host.requests(("0400", "0401")) == []


@pytest.mark.parametrize("rc", ["A2", "A4", "A5", "A6"])
async def test_defective_success_completes_with_operator_note(lab_factory: Any, rc: str) -> None:
    """Rule: A2/A4/A5/A6 are "defective success" (有缺陷的成功): complete the sale, print the
    receipt, and tell the operator to confirm with the issuer (请向发卡行确认).
    Source: UnionPay POS response-code appendix, class A."""
    async with lab_factory(answering(rc)) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.rc, r.code) == (Outcome.APPROVED, rc, "TXN.APPROVED_WITH_DEFECT")
        assert "请向发卡行确认" in r.words.cardholder.zh
        assert "confirm with the" in r.words.cardholder.en.lower()
        assert len(lab.printed) == 2
        assert lab.host.requests(("0400", "0401")) == []


async def test_partial_approval_takes_the_amount_of_field_4(lab_factory: Any) -> None:
    """Rule: 10 (partial approval): the approved amount is field 4 of the answer; the
    terminal charges, journals and prints that amount. Source: UnionPay POS response-code
    appendix (10 部分承兑), ISO 8583 field 4."""
    async with lab_factory(answering("10", **{"4": "000000000600"}), partial_approval=True) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.rc, r.amount) == (Outcome.APPROVED, "10", 600)
        assert lab.terminal.journal.find(stan=r.stan or "").amount == 600  # type: ignore[union-attr]
        assert [p.amount_minor for p in lab.printed] == [600, 600]
        assert lab.terminal.journal.totals().debit_amount == 600


async def test_partial_approval_not_supported_is_reversed(lab_factory: Any) -> None:
    """Rule: a partial approval the configuration does not accept is reversed (reason 96,
    approved but not completed), never dropped: the issuer did charge it.
    Source: UnionPay POS practice (部分承兑; 冲正原因 96)."""

    def script(msg: Message) -> Any:
        if msg["t"] == "0200":
            return {"39": "10", "4": "000000000600"}
        if msg["t"] in ("0400", "0401"):
            return {"39": "00"}
        return None

    async with lab_factory(script) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.rc, r.reversal_reason) == (Outcome.REVERSED, "10", "96")
        assert not r.charged
        (rev,) = lab.host.requests("0400")
        assert (rev["39"], rev["4"], rev["11"]) == ("96", "000000000600", r.stan)
        assert lab.printed == []


@pytest.mark.parametrize("rc", ["96", "98", "A0"])
async def test_96_98_A0_in_field_39_are_declines_without_reversal(
    lab_factory: Any, rc: str
) -> None:
    """Rule: 96, 98, A0 *received in field 39* are the host's decline: nothing was charged,
    so no reversal is sent (A0 also makes the terminal sign on again at once).
    Source: UnionPay POS practice: reversal reasons are the terminal's own (98 no answer,
    A0 bad MAC on an answer, 96 approved but not completed), not codes it received."""
    async with lab_factory(answering(rc, mac=False)) as lab:
        await lab.terminal.sign_on()
        before = lab.host.sign_ons
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.rc, r.charged) == (Outcome.DECLINED, rc, False)
        assert lab.terminal.journal.find(stan=r.stan or "").state is TxnState.DECLINED  # type: ignore[union-attr]
        await lab.terminal.drain()
        assert lab.host.requests(("0400", "0401")) == []
        assert lab.terminal.journal.pending_reversals() == []
        assert lab.host.sign_ons == before + (rc == "A0")


async def test_77_signs_on_at_once_and_nothing_is_charged(lab_factory: Any) -> None:
    """Rule: 77 (batch/sign-on mismatch) is cured by signing on again with the host's batch;
    the operator is told to retry, nothing was charged, nothing is reversed.
    Source: UnionPay POS response-code appendix (77 重新签到)."""
    said_77 = []

    def script(msg: Message) -> Any:
        if msg["t"] == "0200" and not said_77:
            said_77.append(msg["11"])
            return {"39": "77", "mac": False}
        return None

    async with lab_factory(script, batch="000042") as lab:
        await lab.terminal.sign_on()
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.rc, r.charged) == (Outcome.DECLINED, "77", False)
        assert lab.host.sign_ons == 2
        assert lab.host.requests(("0400", "0401")) == []
        again = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert again.outcome is Outcome.APPROVED
        assert again.batch == "000042"


@pytest.mark.parametrize(
    ("rc", "zh", "en"),
    [
        ("04", "没收卡，请联系收单行", "Pick up card"),
        ("96", "未扣款", "not charged"),
        ("45", "插卡", "chip"),
        ("68", "未扣款", "too late"),
    ],
)
def test_display_texts(rc: str, zh: str, en: str) -> None:
    """Rule: the screen text says what happened: 04 没收卡，请联系收单行; 96 must not claim
    the transaction was reversed (交易已冲正) since nothing is reversed; 45 and 68 are known
    codes, not "unknown response". Source: UnionPay POS response-code appendix."""
    from posguard.iso8583.response_codes import lookup

    meaning = lookup(rc)
    assert meaning.known
    assert zh in meaning.text["zh"]
    assert en in meaning.text["en"]
    assert "冲正" not in meaning.text["zh"]
