"""What a receipt says: :class:`ReceiptData`, the one input of the renderer and the print queue.

A receipt never carries a clear card number: ``masked_pan`` is refused when it
looks like a PAN (checked with :func:`posguard.card.contains_pan`).

>>> from datetime import datetime
>>> r = ReceiptData(merchant_name="Shop", merchant_id="123456789012345", terminal_id="T0000001",
...     operator="01", txn_type="sale", masked_pan="621234******1232", card_brand="unionpay",
...     entry_mode="chip", amount_minor=1234, currency="CNY", batch="000001", stan="000123",
...     rrn="123456789012", auth_code="AB1234", ts=datetime(2026, 11, 25, 10, 0, 0))
>>> ReceiptData.from_json(r.to_json()) == r
True
>>> import dataclasses; dataclasses.replace(r, masked_pan="6212345678901232")
Traceback (most recent call last):
...
ValueError: receipt field masked_pan looks like a clear card number; use card.mask_pan
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from posguard.card import contains_pan

Copy = Literal["merchant", "cardholder"]

# PCI DSS 3.4: at most the first six and last four digits; a PAN has 12-19 digits.
_MASKED_RE = re.compile(r"^[0-9]{6}\*{2,9}[0-9]{4}$")
_DIGITS_RE = re.compile(r"^[0-9]{6}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """Every value printed on one copy of a transaction slip; validated when built."""

    merchant_name: str
    merchant_id: str
    terminal_id: str
    operator: str
    txn_type: str
    masked_pan: str
    card_brand: str
    entry_mode: str
    amount_minor: int
    currency: str
    batch: str
    stan: str
    rrn: str
    auth_code: str
    ts: datetime
    original: str | None = None
    copy: Copy = "merchant"
    reprint: bool = False
    training: bool = False  # a practice slip: TRAINING / 培训, not a payment

    def __post_init__(self) -> None:
        for name in ("merchant_name", "merchant_id", "terminal_id", "operator", "rrn", "auth_code"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"receipt field {name} must be text, not {type(value).__name__}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and contains_pan(value):
                raise ValueError(
                    f"receipt field {f.name} looks like a clear card number; use card.mask_pan"
                )
        if not _MASKED_RE.match(self.masked_pan):
            raise ValueError(
                f"receipt field masked_pan {self.masked_pan!r} is not a masked card number "
                "(exactly the first 6 digits, '*', then the last 4 digits)"
            )
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise ValueError("receipt field amount_minor must be an int number of fen (cents)")
        if self.amount_minor < 0:
            raise ValueError(f"receipt field amount_minor must be >= 0, got {self.amount_minor}")
        if not _CURRENCY_RE.match(self.currency):
            raise ValueError(f"receipt field currency {self.currency!r} is not an ISO 4217 code")
        for name in ("batch", "stan"):
            if not _DIGITS_RE.match(getattr(self, name)):
                raise ValueError(
                    f"receipt field {name} must be 6 digits, got {getattr(self, name)!r}"
                )
        if self.copy not in ("merchant", "cardholder"):
            raise ValueError(
                f"receipt field copy must be 'merchant' or 'cardholder', not {self.copy!r}"
            )
        if not self.merchant_name.strip():
            raise ValueError("receipt field merchant_name is empty")

    def as_copy(self, copy: Copy) -> ReceiptData:
        """The same slip as the other copy (merchant / cardholder)."""
        return dataclasses.replace(self, copy=copy)

    def as_reprint(self) -> ReceiptData:
        """The same slip marked REPRINT / 重打印."""
        return dataclasses.replace(self, reprint=True)

    def to_json(self) -> str:
        """A stable JSON form for the durable print queue (``ts`` in ISO 8601)."""
        d: dict[str, Any] = dataclasses.asdict(self)
        d["ts"] = self.ts.isoformat()
        return json.dumps(d, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReceiptData:
        """Rebuild a receipt from :meth:`to_json`; raise ValueError when it is malformed."""
        try:
            d = json.loads(text)
            d["ts"] = datetime.fromisoformat(d["ts"])
            return cls(**d)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"stored receipt is malformed: {exc}") from exc
