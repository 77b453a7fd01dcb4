"""Every response code of the profile that the host decides, produced by real ledger state
over a real socket."""

from __future__ import annotations

import pytest

from posguard.common.errors import ConfigError
from posguard.host.ledger import Ledger
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host
from posguard.iso8583.fields import MessageTypeCode, field60

from .conftest import Cards

Host = tuple[HostServer, int, Ledger]


async def test_sale_approved_debits_exactly_and_answers_rrn_and_auth_code(
    spec: str, cards: Cards, seed: object
) -> None:
    async with running_host(spec=spec) as (_host, port, ledger):
        before = ledger.balance_of_card(cards.good)
        async with HostClient(port, spec=spec) as c:
            assert (await c.sign_on())["39"] == "00"
            answer = await c.sale(cards.good, 12_345, pin="123456")
        assert answer["39"] == "00"
        assert len(str(answer["37"])) == 12
        assert len(str(answer["38"])) == 6
        assert isinstance(answer["64"], bytes)
        assert ledger.balance_of_card(cards.good) == before - 12_345


async def test_balance_inquiry_answers_field_54(client: HostClient, cards: Cards) -> None:
    answer = await client.balance(cards.low_balance)
    assert answer["39"] == "00"
    assert answer["54"] == "1002156C000000010000"


async def test_51_insufficient_funds_leaves_balance(
    client: HostClient, cards: Cards, host: Host
) -> None:
    answer = await client.sale(cards.low_balance, 10_001)
    assert answer["39"] == "51"
    assert "38" not in answer
    assert host[2].balance_of_card(cards.low_balance) == 10_000


@pytest.mark.parametrize(
    ("role", "rc"),
    [
        ("expired", "54"),
        ("lost", "41"),
        ("stolen", "43"),
        ("restricted", "62"),
        ("blocked", "57"),
        ("issuer_down_91", "91"),
        ("issuer_down_98", "98"),
    ],
)
async def test_card_state_codes(client: HostClient, cards: Cards, role: str, rc: str) -> None:
    assert (await client.sale(getattr(cards, role), 100))["39"] == rc


async def test_54_when_expiry_on_the_card_differs(client: HostClient, cards: Cards) -> None:
    assert (await client.sale(cards.good, 100, expiry="2501"))["39"] == "54"
    assert (await client.sale(cards.good, 100, expiry="3012"))["39"] == "00"


async def test_14_unknown_card_and_luhn_failure(client: HostClient, cards: Cards) -> None:
    unknown = "6214830000000000000"  # Luhn-valid, not issued
    assert (await client.sale(unknown, 100))["39"] == "14"
    bad_luhn = cards.good[:-1] + str((int(cards.good[-1]) + 1) % 10)
    assert (await client.sale(bad_luhn, 100))["39"] == "14"


async def test_55_wrong_pin_counts_tries_then_75_even_with_the_right_pin(
    client: HostClient, cards: Cards, host: Host
) -> None:
    assert (await client.sale(cards.good, 100, pin="000000"))["39"] == "55"
    assert (await client.sale(cards.good, 100, pin="111111"))["39"] == "55"
    assert (await client.sale(cards.good, 100, pin="222222"))["39"] == "75"
    assert (await client.sale(cards.good, 100, pin="123456"))["39"] == "75"
    card = host[2].card(cards.good)
    assert card is not None
    assert card.pin_tries == 3


async def test_right_pin_resets_the_try_counter(
    client: HostClient, cards: Cards, host: Host
) -> None:
    assert (await client.sale(cards.good, 100, pin="000000"))["39"] == "55"
    assert (await client.sale(cards.good, 100, pin="123456"))["39"] == "00"
    card = host[2].card(cards.good)
    assert card is not None
    assert card.pin_tries == 0


async def test_75_on_the_last_try(client: HostClient, cards: Cards) -> None:
    assert (await client.sale(cards.one_pin_try, 100, pin="999999"))["39"] == "75"


async def test_99_pin_block_that_is_not_format_0(client: HostClient, cards: Cards) -> None:
    msg = client.sale_msg(cards.good, 100)
    msg["52"] = bytes(8)  # decrypts to garbage, not a format-0 block
    assert (await client.request(msg))["39"] == "99"


async def test_61_per_transaction_and_daily_limits(client: HostClient, cards: Cards) -> None:
    # Visa account: txn limit 1,500.00, daily limit 3,000.00
    assert (await client.sale(cards.visa, 150_001))["39"] == "61"
    assert (await client.sale(cards.visa, 150_000))["39"] == "00"
    second = client.sale_msg(cards.visa, 150_000)
    assert (await client.request(second))["39"] == "00"
    assert (await client.sale(cards.visa, 1))["39"] == "61"
    # a voided sale no longer counts against the day; once the void is reversed it counts again
    void = client.card_txn("0200", "200000", "23", cards.visa, 150_000, original=second)
    assert (await client.request(void))["39"] == "00"
    assert (await client.sale(cards.visa, 1))["39"] == "00"
    assert (await client.request(client.reversal_of(void)))["39"] == "00"
    assert (await client.sale(cards.visa, 1))["39"] == "61"


async def test_94_duplicate_stan_same_day_charged_once(
    client: HostClient, cards: Cards, host: Host
) -> None:
    before = host[2].balance_of_card(cards.good)
    assert (await client.sale(cards.good, 500, stan="000777"))["39"] == "00"
    assert (await client.sale(cards.good, 500, stan="000777"))["39"] == "94"
    assert host[2].balance_of_card(cards.good) == before - 500


async def test_13_zero_amount(client: HostClient, cards: Cards) -> None:
    assert (await client.sale(cards.good, 0))["39"] == "13"


async def test_12_invalid_transactions(client: HostClient, cards: Cards) -> None:
    # a sale-void naming a pre-authorisation
    pre_msg = client.card_txn("0100", "030000", "10", cards.good, 900)
    assert (await client.request(pre_msg))["39"] == "00"
    assert (await client.void(pre_msg, cards.good, 900))["39"] == "12"
    # a network management code the profile does not define
    assert (await client.request(client.base("0820", "00", "999")))["39"] == "12"


async def test_12_type_code_unknown_for_the_mti(client: HostClient, cards: Cards) -> None:
    msg = client.sale_msg(cards.good, 100)
    msg["60"] = field60("99", client.batch)
    assert (await client.request(msg))["39"] == "12"


async def test_25_void_of_unknown_original_and_12_void_twice(
    client: HostClient, cards: Cards
) -> None:
    ghost = {"11": "123456", "13": "0101", "37": "999999999999"}
    assert (await client.void(ghost, cards.good, 100))["39"] == "25"
    sale_msg = client.sale_msg(cards.good, 700)
    sale = await client.request(sale_msg)
    original = {**sale_msg, "37": sale["37"]}
    assert (await client.void(original, cards.good, 700))["39"] == "00"
    assert (await client.void(original, cards.good, 700))["39"] == "12"


async def test_64_void_amount_differs(client: HostClient, cards: Cards) -> None:
    sale_msg = client.sale_msg(cards.good, 700)
    await client.request(sale_msg)
    assert (await client.void(sale_msg, cards.good, 699))["39"] == "64"


async def test_a0_bad_mac_changes_nothing(client: HostClient, cards: Cards, host: Host) -> None:
    before = host[2].balance_of_card(cards.good)
    raw = bytearray(client.pack(client.sale_msg(cards.good, 100)))
    raw[-1] ^= 0x01  # damage the MAC
    await client.send_raw(bytes(raw))
    answer = await client.receive()
    assert answer["39"] == "A0"
    assert "64" not in answer
    assert host[2].balance_of_card(cards.good) == before


async def test_a0_when_a_signed_on_terminal_omits_the_mac(client: HostClient, cards: Cards) -> None:
    assert (await client.request(client.sale_msg(cards.good, 100), mac=False))["39"] == "A0"


async def test_77_before_sign_on_and_after_sign_off(host: Host, cards: Cards) -> None:
    async with HostClient(host[1]) as c:
        assert (await c.sale(cards.good, 100))["39"] == "77"
        await c.sign_on()
        assert (await c.echo())["39"] == "00"
        assert (await c.sign_off())["39"] == "00"
        assert (await c.sale(cards.good, 100))["39"] == "77"


async def test_97_unregistered_and_unknown_terminal(host: Host) -> None:
    async with HostClient(host[1], tid="99999999") as c:
        assert (await c.sign_on())["39"] == "97"
    async with HostClient(host[1]) as c:
        msg = c.base("0800", MessageTypeCode.ADMIN, "003")
        msg["41"] = "55555555"
        assert (await c.request(msg, mac=False))["39"] == "97"


async def test_03_closed_merchant_and_wrong_merchant_id(host: Host) -> None:
    async with HostClient(host[1], tid="40000001") as c:
        assert (await c.sign_on())["39"] == "03"
    async with HostClient(host[1]) as c:
        msg = c.base("0800", MessageTypeCode.ADMIN, "003")
        msg["42"] = "898310058125678"  # another merchant's MID
        assert (await c.request(msg, mac=False))["39"] == "03"


async def test_30_missing_mandatory_field(client: HostClient, cards: Cards) -> None:
    msg = client.sale_msg(cards.good, 100)
    del msg["49"]
    answer = await client.request(msg)
    assert answer["t"] == "0210"
    assert answer["39"] == "30"


async def test_unionpay_mac_algorithm_per_terminal(host: Host, cards: Cards) -> None:
    async with HostClient(host[1], tid="20000001") as c:  # seeded with UNIONPAY_ECB
        assert (await c.sign_on())["39"] == "00"
        assert (await c.sale(cards.mastercard, 100))["39"] == "00"


async def test_an_issuer_goes_down_and_comes_back_at_run_time(
    client: HostClient, cards: Cards, host: Host
) -> None:
    server, _port, ledger = host
    prefix = cards.good[:6]
    assert (await client.sale(cards.good, 100))["39"] == "00"
    await server.call(lambda: ledger.set_issuer_unavailable(prefix, "91"))
    assert (await client.sale(cards.good, 100))["39"] == "91"
    assert (await client.sale(cards.visa, 100))["39"] == "00"  # other issuers unaffected
    await server.call(lambda: ledger.set_issuer_unavailable(prefix, None))
    assert (await client.sale(cards.good, 100))["39"] == "00"


def test_issuer_availability_refuses_bad_input() -> None:
    ledger = Ledger.open(":memory:")
    with pytest.raises(ConfigError, match="BIN prefix"):
        ledger.set_issuer_unavailable("62x", "91")
    with pytest.raises(ConfigError, match="answers 91, 92 or 98"):
        ledger.set_issuer_unavailable("622848", "05")
