"""The host simulator's side of training mode (docs/iso8583-profile.md, "Training mode"): a
request marked training (field 63 ``TRAINING`` under the MAC; the UnionPay header's terminal
status 1 with it) is answered with the mark echoed and books nothing; a header and a field 63
that disagree are a format error; a training settlement is refused ``12``."""

from __future__ import annotations

from posguard.host.testing import HostClient, running_host
from posguard.iso8583.fields import (
    MessageTypeCode,
    NetworkCode,
    SettlementTotals,
    settlement_totals,
    unionpay_header,
)
from posguard.iso8583.training import mark_training

from .conftest import Cards


async def test_training_requests_book_nothing(cards: Cards) -> None:
    async with (
        running_host(spec="unionpay") as (host, port, led),
        HostClient(port, spec="unionpay") as c,
    ):
        assert (await c.sign_on())["39"] == "00"
        before = led.balance_of_card(cards.good)
        sale = c.sale_msg(cards.good, 2_000)
        marked = mark_training({**sale, "h": unionpay_header()})
        assert marked["h"][14] == "1"  # the CUPS header's terminal status: test
        answer = await c.request(marked)
        assert (answer["39"], answer["63"]) == ("00", "TRAINING")
        assert str(answer["37"]).startswith("TR")
        assert led.balance_of_card(cards.good) == before
        assert led.transactions() == []
        assert host.journal.query(mti="0200")[-1].decision.startswith("training:")
        # the header says test, field 63 does not (or the other way round): 30, nothing booked
        for msg in (
            {**c.sale_msg(cards.good, 2_000), "h": marked["h"]},
            {**c.sale_msg(cards.good, 2_000), "63": "TRAINING"},
        ):
            assert (await c.request(msg))["39"] == "30"
        settle = c.base("0500", MessageTypeCode.ADMIN, NetworkCode.SETTLEMENT)
        settle["48"] = settlement_totals(SettlementTotals(0, 0, 0, 0))
        settle["49"] = "156"
        settle = mark_training({**settle, "h": unionpay_header()})
        assert (await c.request(settle))["39"] == "12"
        assert led.transactions() == []
        live = await c.request(c.sale_msg(cards.good, 2_000))
        assert live["39"] == "00"
        assert "63" not in live
        assert led.balance_of_card(cards.good) == before - 2_000
