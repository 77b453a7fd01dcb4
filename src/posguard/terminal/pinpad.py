"""The PIN pad: where a PIN block comes from. The runtime never needs a clear PIN.

A real PIN pad (PED) encrypts the PIN block inside its secure boundary under the working PIN
key; :class:`PinPad` is what the runtime asks of it. :class:`LabPinPad` builds an ISO 9564
format 0 block in software from a PIN given to it, for labs and tests only.

>>> from posguard.iso8583.keys import decrypt_pin
>>> pad = LabPinPad("123456")
>>> key = bytes(range(16))
>>> decrypt_pin(key, pad.pin_block(key, "6212345678901232"), "6212345678901232")
'123456'
"""

from __future__ import annotations

from typing import Protocol

from posguard.iso8583.keys import encrypt_pin_block


class PinPad(Protocol):
    def pin_block(self, pin_key: bytes, pan: str) -> bytes:
        """The cardholder's PIN block for ``pan``, encrypted under ``pin_key`` (8 bytes)."""
        ...


class LabPinPad:
    """A software PIN pad holding one PIN (labs and tests; never in production)."""

    def __init__(self, pin: str) -> None:
        self._pin = pin

    def __repr__(self) -> str:
        return "LabPinPad(pin=***)"

    def pin_block(self, pin_key: bytes, pan: str) -> bytes:
        return encrypt_pin_block(pin_key, self._pin, pan)
