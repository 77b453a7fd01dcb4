"""Training requests (培训模式, see :mod:`posguard.iso8583.training`): answered like live ones,
never booked. Nothing here touches the ledger: no account moves, no hold is taken, no
transaction enters a batch or a settlement total, no duplicate is remembered.

What a trainee may practise, by the amount's last two digits (fen): ``51`` declined
insufficient funds, ``55`` wrong PIN, ``61`` over the limit, ``05`` do not honour; any other
amount is approved. A balance inquiry answers 1,000.00. Reversals and voids of training
transactions are acknowledged. A settlement or batch upload marked training is refused ``12``:
training never settles.

>>> d = decide("0200", TxnKind.SALE, tid="T0000001", stan="000123", amount=1000)
>>> d.rc, d.rrn, d.auth_code
('00', 'TR0001000123', 'TRN123')
>>> decide("0200", TxnKind.SALE, tid="T0000001", stan="000124", amount=1055).rc
'55'
>>> decide("0500", None, tid="T0000001", stan="000125", amount=None).rc
'12'
"""

from __future__ import annotations

from typing import Final

from posguard.host.issuer import Decision
from posguard.iso8583.operations import TxnKind

PRACTICE_DECLINES: Final = {
    "51": "insufficient funds",
    "55": "wrong PIN",
    "61": "exceeds the limit",
    "05": "do not honour",
}
TRAINING_BALANCE: Final = 100_000
_APPROVING: Final = frozenset({TxnKind.SALE, TxnKind.PREAUTH, TxnKind.COMPLETION})


def decide(mti: str, kind: TxnKind | None, *, tid: str, stan: str, amount: int | None) -> Decision:
    """The answer to a training request (see the module doc); books nothing."""
    if mti in ("0500", "0320"):
        return Decision("12", "training: never settled or uploaded")
    if mti in ("0400", "0401"):
        return Decision("00", "training: reversal acknowledged, nothing was booked")
    if kind is None:
        return Decision("12", "training: operation not in the profile")
    rrn = f"TR{tid[-4:]}{stan}"
    if kind is TxnKind.BALANCE:
        return Decision("00", "training: balance", rrn=rrn, balance=TRAINING_BALANCE)
    if kind in _APPROVING and amount is not None:
        cents = f"{amount % 100:02d}"
        if cents in PRACTICE_DECLINES:
            return Decision(cents, f"training: practice decline, {PRACTICE_DECLINES[cents]}")
    code = f"TRN{stan[-3:]}" if kind in _APPROVING else ""
    return Decision("00", f"training: {kind.value} approved, not booked", rrn=rrn, auth_code=code)
