"""Known-answer tests for the MACs, 3DES, check values, working keys and PIN blocks, and
the MAC applied to whole messages of both specs."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.algorithms import SM4

from posguard.iso8583.codec import decode, encode
from posguard.iso8583.fields import unionpay_header
from posguard.iso8583.keys import (
    CryptoInputError,
    WorkingKeys,
    check_value,
    decrypt_pin,
    encrypt_pin_block,
    pin_block_iso0,
    tdes_ecb_decrypt,
    tdes_ecb_encrypt,
    unwrap_working_keys,
    wrap_working_keys,
)
from posguard.iso8583.mac import (
    MacAlgorithm,
    apply_mac,
    check_mac,
    check_mac_bytes,
    compute_mac,
    mac_input,
    verify_mac,
)
from posguard.iso8583.spec import load_spec

K = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


# ISO/IEC 9797-1:2011 annex B.4 (MAC algorithm 3 = ANSI X9.19), padding method 1, and the
# BouncyCastle ISO9797Alg3MacTest vector.
@pytest.mark.parametrize(
    ("key", "data", "mac"),
    [
        (K, b"Now is the time for all ", "A1C72E74EA3FA9B6"),
        (K, b"Now is the time for it", "2E2B1428CC78254F"),
        (
            bytes.fromhex("7CA110454A1A6E570131D9619DC1376E"),
            b"Hello World !!!!",
            "F09B856213BAB83B",
        ),
    ],
)
def test_x919_published_vectors(key: bytes, data: bytes, mac: str) -> None:
    assert compute_mac(MacAlgorithm.X919, key, data).hex().upper() == mac
    assert verify_mac(MacAlgorithm.X919, key, data, bytes.fromhex(mac))


def test_x919_zero_padding_convention() -> None:
    # zero padding: data and data + zeros up to the block give the same MAC
    assert compute_mac(MacAlgorithm.X919, K, b"abc") == compute_mac(
        MacAlgorithm.X919, K, b"abc\x00\x00\x00\x00\x00"
    )
    assert compute_mac(MacAlgorithm.X919, K, b"") == compute_mac(MacAlgorithm.X919, K, bytes(8))


def test_unionpay_ecb_published_walkthrough() -> None:
    # The CUPS "ECB" MAC worked example: data 1234567890ABCDEF ABCDEF1234567890, MAK
    # 2222222222222222: XOR B9F9B96AA4FDB57F, hex-expand, encrypt the first 8 (9FDE90A3...),
    # XOR the last 8, encrypt (E267B6E21913D339), keep the first 8 hex characters.
    data = bytes.fromhex("1234567890ABCDEFABCDEF1234567890")
    assert compute_mac(MacAlgorithm.UNIONPAY_ECB, bytes.fromhex("2222222222222222"), data) == (
        b"E267B6E2"
    )
    # steps, one by one, with the bare cipher
    mak = bytes.fromhex("2222222222222222")
    assert tdes_ecb_encrypt(mak, b"B9F9B96A").hex().upper() == "9FDE90A34CF73B2E"
    temp = bytes(a ^ b for a, b in zip(bytes.fromhex("9FDE90A34CF73B2E"), b"A4FDB57F", strict=True))
    assert temp.hex().upper() == "DEEAD6E70EC20C68"
    assert tdes_ecb_encrypt(mak, temp).hex().upper() == "E267B6E21913D339"
    # a double-length key with equal halves is single DES
    assert compute_mac(MacAlgorithm.UNIONPAY_ECB, mak * 2, data) == b"E267B6E2"


def test_sm4_block_cipher_standard_vector() -> None:
    # GB/T 32907-2016 appendix A, example 1
    enc = Cipher(SM4(K), modes.ECB()).encryptor()
    assert enc.update(K).hex() == "681edf34d206965e86b3e94f536e4246"


def _sm4_block(block: bytes) -> bytes:
    enc = Cipher(SM4(K), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def test_sm4_mac_is_the_unionpay_pos_algorithm_step_by_step() -> None:
    """UnionPay POS SM4 MAC: XOR the zero-padded 16-byte blocks, expand to 32 hex
    characters, SM4 the first 16, XOR with the last 16, SM4 again, expand, first 8 chars."""
    data = b"0200 sale of 12.34 CNY, STAN 000123"  # 35 bytes: 3 blocks after zero padding
    padded = data + bytes(48 - len(data))
    xor = bytes(a ^ b ^ c for a, b, c in zip(padded[:16], padded[16:32], padded[32:], strict=True))
    hexed = xor.hex().upper().encode()
    temp = bytes(a ^ b for a, b in zip(_sm4_block(hexed[:16]), hexed[16:], strict=True))
    expected = _sm4_block(temp).hex().upper()[:8].encode()
    assert compute_mac(MacAlgorithm.SM4, K, data) == expected
    # not SM4-CBC-MAC
    cbc = Cipher(SM4(K), modes.CBC(bytes(16))).encryptor()
    assert compute_mac(MacAlgorithm.SM4, K, data) != (cbc.update(padded) + cbc.finalize())[-16:][:8]


@pytest.mark.parametrize(
    ("data", "mac"),
    [
        (b"", b"961360EF"),
        (b"1234567890ABCDEF", b"11ACBE3F"),
        (b"0200302004C020C0981100000000000000005100183402100006", b"52FB1728"),
        (bytes(range(40)), b"31A90AFA"),
    ],
)
def test_sm4_mac_known_answers(data: bytes, mac: bytes) -> None:
    """Known answers, key 0123456789ABCDEFFEDCBA9876543210 (the GB/T 32907 example key, whose
    block vector is checked above), frozen from the step-by-step derivation above."""
    assert compute_mac(MacAlgorithm.SM4, K, data) == mac


@pytest.mark.parametrize("alg", list(MacAlgorithm))
def test_verify_rejects_wrong_macs(alg: MacAlgorithm) -> None:
    mac = compute_mac(alg, K, b"message")
    assert len(mac) == 8
    assert verify_mac(alg, K, b"message", mac)
    assert not verify_mac(alg, K, b"messagf", mac)
    assert not verify_mac(alg, K, b"message", mac[:7])
    assert not verify_mac(alg, K, b"message", "x" * 8)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", list(MacAlgorithm))
def test_mac_key_sizes_are_checked(alg: MacAlgorithm) -> None:
    with pytest.raises(CryptoInputError, match="MAC key must be"):
        compute_mac(alg, b"short", b"data")


def test_check_values_and_3des() -> None:
    assert check_value(K).hex().upper() == "08D7B4FB"
    # single DES classic: key 0123456789ABCDEF, "Now is t" -> 3FA40E8A984D4815
    assert tdes_ecb_encrypt(K[:8], b"Now is t").hex().upper() == "3FA40E8A984D4815"
    block = tdes_ecb_encrypt(K, b"12345678abcdefgh")
    assert tdes_ecb_decrypt(K, block) == b"12345678abcdefgh"
    with pytest.raises(CryptoInputError, match="8-byte blocks"):
        tdes_ecb_encrypt(K, b"odd")
    with pytest.raises(CryptoInputError, match="8, 16 or 24 bytes"):
        tdes_ecb_encrypt(b"k" * 10, bytes(8))


def test_working_keys_round_trip_and_check_values() -> None:
    tmk = bytes.fromhex("11111111111111112222222222222222")
    keys = WorkingKeys(pin_key=bytes(range(16)), mac_key=bytes(range(16, 32)))
    f62 = wrap_working_keys(tmk, keys)
    assert len(f62) == 40
    assert f62[16:20] == check_value(keys.pin_key)
    assert unwrap_working_keys(tmk, f62) == keys
    with pytest.raises(CryptoInputError, match="PIN key check value"):
        unwrap_working_keys(K, f62)  # another TMK
    with pytest.raises(CryptoInputError, match="40 bytes"):
        unwrap_working_keys(tmk, f62[:39])


def test_pin_block_iso0_published_example() -> None:
    # ISO 9564-1 format 0: PIN 1234, PAN 43219876543210987
    assert pin_block_iso0("1234", "43219876543210987").hex().upper() == "0412AC89ABCDEF67"


def test_pin_encrypt_decrypt() -> None:
    pan = "6222021234567890123"
    block = encrypt_pin_block(K, "123456", pan)
    assert len(block) == 8
    assert block != pin_block_iso0("123456", pan)
    assert decrypt_pin(K, block, pan) == "123456"
    with pytest.raises(CryptoInputError) as info:
        decrypt_pin(K, block[::-1], pan)
    assert info.value.code == "TXN.PIN_FORMAT_ERROR"
    assert "123456" not in str(info.value)


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", ""])
def test_pin_format_is_checked(pin: str) -> None:
    with pytest.raises(CryptoInputError) as info:
        pin_block_iso0(pin, "6222021234567890123")
    assert info.value.code == "TXN.PIN_FORMAT_ERROR"


SALE = {
    "t": "0200",
    "2": "6222021234567890123",
    "3": "000000",
    "4": "000000010000",
    "11": "000123",
    "22": "021",
    "25": "00",
    "41": "T0000001",
    "42": "898310048140001",
    "49": "156",
    "60": "22000001000",
}


@pytest.mark.parametrize("name", ["iso87ascii", "unionpay"])
@pytest.mark.parametrize("alg", list(MacAlgorithm))
def test_mac_on_whole_messages(name: str, alg: MacAlgorithm) -> None:
    spec = load_spec(name)
    msg = {**SALE, "h": unionpay_header()} if spec.header_len else dict(SALE)
    signed = apply_mac(spec, msg, alg, K)
    data = encode(spec, signed)
    # covers MTI .. field 63: no TPDU/header, no MAC
    assert mac_input(spec, msg) == data[spec.header_len : -8]
    assert check_mac_bytes(spec, data, alg, K)
    received = decode(spec, data)
    assert check_mac(spec, received, alg, K)
    tampered = {**received, "4": "000000010001"}
    assert not check_mac(spec, tampered, alg, K)
    assert not check_mac(spec, msg, alg, K)  # no field 64 at all
    if spec.header_len:  # the TPDU is not covered: a router may rewrite it
        assert check_mac(spec, {**received, "h": unionpay_header(tpdu_src="0099")}, alg, K)


@pytest.mark.parametrize("name", ["iso87ascii", "unionpay"])
def test_check_mac_bytes_needs_field_64_in_the_bitmap(name: str) -> None:
    spec = load_spec(name)
    msg = {**SALE, "h": unionpay_header()} if spec.header_len else dict(SALE)
    # no field 64: whatever the last 8 bytes are, they are not a MAC
    unsigned = encode(spec, msg)
    assert not check_mac_bytes(spec, unsigned, MacAlgorithm.X919, K)
    assert not check_mac_bytes(spec, unsigned[:5], MacAlgorithm.X919, K)
    assert not check_mac_bytes(spec, b"", MacAlgorithm.X919, K)
    signed = encode(spec, apply_mac(spec, msg, MacAlgorithm.X919, K))
    assert check_mac_bytes(spec, signed, MacAlgorithm.X919, K)
