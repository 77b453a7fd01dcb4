"""3DES key handling, key check values, working keys (field 62) and ISO 9564 format 0 PIN
blocks.

>>> check_value(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")).hex().upper()
'08D7B4FB'
>>> pin_block_iso0("1234", "43219876543210987").hex().upper()
'0412AC89ABCDEF67'

Nothing here logs, prints or puts a key, a PIN or a PIN block into an error text.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from posguard.common.errors import MessageError

ZERO_BLOCK = bytes(8)


class CryptoInputError(MessageError):
    """A key, a block or a PIN has the wrong size or format (values never in the text)."""


def _tdes(key: bytes) -> TripleDES:
    if not isinstance(key, bytes) or len(key) not in (8, 16, 24):
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise CryptoInputError(f"a DES/3DES key must be 8, 16 or 24 bytes, not {size}")
    if len(key) == 8:  # single DES: K1 = K2 = K3
        key = key * 3
    elif len(key) == 16:  # double length: K1 K2 K1
        key = key + key[:8]
    return TripleDES(key)


def _blocks(data: bytes, size: int = 8) -> bytes:
    if not isinstance(data, bytes) or len(data) % size:
        n = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
        raise CryptoInputError(f"data must be whole {size}-byte blocks, not {n} bytes")
    return data


def tdes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    """3DES-ECB (single DES for an 8-byte key) over whole 8-byte blocks."""
    enc = Cipher(_tdes(key), modes.ECB()).encryptor()  # noqa: S305 - key wrapping is ECB by spec
    return enc.update(_blocks(data)) + enc.finalize()


def tdes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    dec = Cipher(_tdes(key), modes.ECB()).decryptor()  # noqa: S305
    return dec.update(_blocks(data)) + dec.finalize()


def check_value(key: bytes) -> bytes:
    """Key check value: the first 4 bytes of the key encrypting 8 zero bytes."""
    return tdes_ecb_encrypt(key, ZERO_BLOCK)[:4]


class WorkingKeys(NamedTuple):
    """The clear working keys a sign-on (0810 field 62) delivers."""

    pin_key: bytes
    mac_key: bytes


def wrap_working_keys(tmk: bytes, keys: WorkingKeys) -> bytes:
    """Field 62 of an 0810: PIN key under the TMK + its check value + MAC key + its check
    value (16 + 4 + 16 + 4 = 40 bytes; check values of the clear keys)."""
    out = b""
    for name, key in (("PIN key", keys.pin_key), ("MAC key", keys.mac_key)):
        if not isinstance(key, bytes) or len(key) != 16:
            raise CryptoInputError(f"{name} must be 16 bytes")
        out += tdes_ecb_encrypt(tmk, key) + check_value(key)
    return out


def unwrap_working_keys(tmk: bytes, field62: bytes) -> WorkingKeys:
    """Decrypt field 62 of an 0810 and verify both check values (raises when they differ:
    the host used another TMK, or the field was damaged)."""
    if not isinstance(field62, bytes) or len(field62) != 40:
        n = len(field62) if isinstance(field62, bytes | bytearray) else type(field62).__name__
        raise CryptoInputError(f"field 62 must be 40 bytes, not {n}", field="62")
    keys = []
    for name, at in (("PIN key", 0), ("MAC key", 20)):
        key = tdes_ecb_decrypt(tmk, field62[at : at + 16])
        if check_value(key) != field62[at + 16 : at + 20]:
            raise CryptoInputError(f"field 62: {name} check value does not match", field="62")
        keys.append(key)
    return WorkingKeys(keys[0], keys[1])


def _pan_field(pan: str) -> bytes:
    if not isinstance(pan, str) or not (pan.isdigit() and pan.isascii()) or len(pan) < 13:
        raise CryptoInputError("PAN must be 13-19 digits for a format 0 PIN block", field="2")
    return bytes.fromhex("0000" + pan[-13:-1])  # rightmost 12 digits without the check digit


def pin_block_iso0(pin: str, pan: str) -> bytes:
    """ISO 9564 format 0 clear PIN block: ``0``, PIN length, PIN, ``F`` fill, XOR the PAN."""
    if not isinstance(pin, str) or not (pin.isdigit() and pin.isascii()) or not 4 <= len(pin) <= 12:
        raise CryptoInputError("PIN must be 4-12 digits", code="TXN.PIN_FORMAT_ERROR")
    pin_field = bytes.fromhex(f"0{len(pin):X}{pin}".ljust(16, "F"))
    return bytes(a ^ b for a, b in zip(pin_field, _pan_field(pan), strict=True))


def encrypt_pin_block(pin_key: bytes, pin: str, pan: str) -> bytes:
    """Field 52: the format 0 PIN block encrypted with the working PIN key (3DES-ECB)."""
    return tdes_ecb_encrypt(pin_key, pin_block_iso0(pin, pan))


def decrypt_pin(pin_key: bytes, block: bytes, pan: str) -> str:
    """The clear PIN from field 52 (host side); a malformed block raises
    ``CryptoInputError`` with code ``TXN.PIN_FORMAT_ERROR``."""
    if not isinstance(block, bytes) or len(block) != 8:
        raise CryptoInputError("PIN block must be 8 bytes", field="52", code="TXN.PIN_FORMAT_ERROR")
    clear = tdes_ecb_decrypt(pin_key, block)
    pin_field = bytes(a ^ b for a, b in zip(clear, _pan_field(pan), strict=True)).hex().upper()
    n = int(pin_field[1], 16)
    if pin_field[0] != "0" or not 4 <= n <= 12:
        raise CryptoInputError("PIN block is not format 0", field="52", code="TXN.PIN_FORMAT_ERROR")
    pin, fill = pin_field[2 : 2 + n], pin_field[2 + n :]
    if not pin.isdigit() or fill.strip("F"):
        raise CryptoInputError(
            "PIN block has a bad PIN or fill", field="52", code="TXN.PIN_FORMAT_ERROR"
        )
    return pin
