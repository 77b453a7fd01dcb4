"""Message authentication codes for field 64.

- ``X919``: ANSI X9.19 retail MAC (ISO/IEC 9797-1 MAC algorithm 3, padding method 1):
  data zero-padded to 8-byte blocks (none added when already aligned; empty data is one
  zero block), single-DES CBC over every block with the left key K1, then the last
  result is decrypted with K2 and encrypted with K1 again. Key: 16 bytes (K1 K2).
- ``UNIONPAY_ECB``: the CUPS POS "ECB" MAC: XOR all zero-padded 8-byte blocks, expand
  the result to 16 uppercase hex characters, encrypt the first 8 with the MAC key, XOR
  with the last 8, encrypt again, expand to hex and keep the first 8 characters (the MAC
  is those 8 ASCII bytes). Key: 16 bytes (3DES EDE, K1 K2 K1) or 8 (single DES).
- ``SM4``: the UnionPay POS SM4 MAC, the ECB algorithm above on 16-byte blocks with the
  SM4 block cipher (GB/T 32907): XOR all zero-padded 16-byte blocks, expand the result to 32
  uppercase hex characters, encrypt the first 16 with the MAC key, XOR with the last 16,
  encrypt again, expand to hex and keep the first 8 characters (the MAC is those 8 ASCII
  bytes). Key: 16 bytes. (Not SM4-CBC-MAC: a terminal and a UnionPay host using that would
  never agree.)

>>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> compute_mac(MacAlgorithm.X919, key, b"Now is the time for all ").hex().upper()
'A1C72E74EA3FA9B6'
>>> verify_mac(MacAlgorithm.X919, key, b"Now is the time for all ", bytes(8))
False

On a message: :func:`mac_input` is what the MAC covers (MTI up to, not including, field
64; the header/TPDU is not covered), :func:`apply_mac` sets field 64, :func:`check_mac`
verifies it.
"""

from __future__ import annotations

import enum
import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.algorithms import SM4

from posguard.common.errors import MessageEncodeError
from posguard.iso8583.codec import Message, encode
from posguard.iso8583.keys import CryptoInputError, tdes_ecb_decrypt, tdes_ecb_encrypt
from posguard.iso8583.spec import MessageSpec

MAC_LEN = 8
_PLACEHOLDER = bytes(MAC_LEN)


class MacAlgorithm(enum.Enum):
    X919 = "x919"
    UNIONPAY_ECB = "unionpay_ecb"
    SM4 = "sm4"


def _need_key(alg: MacAlgorithm, key: bytes, sizes: tuple[int, ...]) -> None:
    if not isinstance(key, bytes) or len(key) not in sizes:
        want = " or ".join(str(s) for s in sizes)
        raise CryptoInputError(f"{alg.value} MAC key must be {want} bytes")


def _zero_pad(data: bytes, size: int = 8) -> bytes:
    if not data:
        return bytes(size)
    rem = len(data) % size
    return data + bytes(size - rem) if rem else data


def _x919(key: bytes, data: bytes) -> bytes:
    _need_key(MacAlgorithm.X919, key, (16,))
    k1, k2 = key[:8], key[8:]
    cbc = Cipher(TripleDES(k1 * 3), modes.CBC(bytes(8))).encryptor()
    last = (cbc.update(_zero_pad(data)) + cbc.finalize())[-8:]
    return tdes_ecb_encrypt(k1, tdes_ecb_decrypt(k2, last))


def _unionpay_ecb(key: bytes, data: bytes) -> bytes:
    _need_key(MacAlgorithm.UNIONPAY_ECB, key, (8, 16))
    padded = _zero_pad(data)
    acc = 0
    for i in range(0, len(padded), 8):
        acc ^= int.from_bytes(padded[i : i + 8], "big")
    expanded = acc.to_bytes(8, "big").hex().upper().encode("ascii")
    enc1 = tdes_ecb_encrypt(key, expanded[:8])
    temp = bytes(a ^ b for a, b in zip(enc1, expanded[8:], strict=True))
    enc2 = tdes_ecb_encrypt(key, temp)
    return enc2.hex().upper()[:8].encode("ascii")


def _sm4_ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one block, by the algorithm
    return enc.update(block) + enc.finalize()


def _sm4(key: bytes, data: bytes) -> bytes:
    _need_key(MacAlgorithm.SM4, key, (16,))
    padded = _zero_pad(data, 16)
    acc = 0
    for i in range(0, len(padded), 16):
        acc ^= int.from_bytes(padded[i : i + 16], "big")
    expanded = acc.to_bytes(16, "big").hex().upper().encode("ascii")
    enc1 = _sm4_ecb(key, expanded[:16])
    temp = bytes(a ^ b for a, b in zip(enc1, expanded[16:], strict=True))
    return _sm4_ecb(key, temp).hex().upper()[:MAC_LEN].encode("ascii")


_ALGS = {
    MacAlgorithm.X919: _x919,
    MacAlgorithm.UNIONPAY_ECB: _unionpay_ecb,
    MacAlgorithm.SM4: _sm4,
}


def compute_mac(alg: MacAlgorithm, key: bytes, data: bytes) -> bytes:
    """The 8-byte MAC of ``data``."""
    if not isinstance(data, bytes):
        raise CryptoInputError(f"MAC data must be bytes, not {type(data).__name__}")
    return _ALGS[MacAlgorithm(alg)](key, data)


def verify_mac(alg: MacAlgorithm, key: bytes, data: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the MAC of ``data`` (constant-time comparison)."""
    if not isinstance(mac, bytes) or len(mac) != MAC_LEN:
        return False
    return hmac.compare_digest(compute_mac(alg, key, data), mac)


def mac_input(spec: MessageSpec, msg: Message) -> bytes:
    """The bytes field 64 covers: the packed message from the MTI up to field 64.

    Field 64 must be the last field (no secondary-bitmap fields), and the bitmap the MAC
    covers has bit 64 set, as in the message that carries it.
    """
    if any(k.isdigit() and int(k) > 64 for k in msg):
        raise MessageEncodeError(
            f"{spec.name}: field 64 MAC with fields above 64 is not supported", field="64"
        )
    packed = encode(spec, {**msg, "64": _PLACEHOLDER})
    return packed[spec.header_len : -MAC_LEN]


def apply_mac(spec: MessageSpec, msg: Message, alg: MacAlgorithm, key: bytes) -> Message:
    """A copy of ``msg`` with field 64 set."""
    return {**msg, "64": compute_mac(alg, key, mac_input(spec, msg))}


def check_mac(spec: MessageSpec, msg: Message, alg: MacAlgorithm, key: bytes) -> bool:
    """Whether ``msg`` carries a field 64 that matches its content."""
    mac = msg.get("64")
    if not isinstance(mac, bytes):
        return False
    return verify_mac(alg, key, mac_input(spec, msg), mac)


def check_mac_bytes(spec: MessageSpec, data: bytes, alg: MacAlgorithm, key: bytes) -> bool:
    """Verify field 64 on the received bytes themselves (no re-encoding); ``data`` must be
    a whole message whose last field is 64."""
    if not _has_field64(spec, data):
        return False
    return verify_mac(alg, key, data[spec.header_len : -MAC_LEN], data[-MAC_LEN:])


def _has_field64(spec: MessageSpec, data: bytes) -> bool:
    """Whether the primary bitmap of ``data`` has bit 64 and no secondary bitmap."""
    raw = spec.pyiso8583
    at = spec.header_len + (2 if raw["t"]["data_enc"] == "b" else 4)
    if raw["p"]["data_enc"] == "b":
        bitmap = data[at : at + 8]
    else:
        try:
            bitmap = bytes.fromhex(data[at : at + 16].decode("ascii"))
        except ValueError:  # UnicodeDecodeError is a ValueError
            return False
    if len(bitmap) != 8 or len(data) < at + len(bitmap) + MAC_LEN:
        return False
    return bool(bitmap[7] & 0x01) and not bitmap[0] & 0x80
