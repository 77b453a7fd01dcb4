"""Operator errors the terminal can tell from what it is asked to do (catalog domain ``OPS``):
reported as ``fault`` events naming the operator (config ``operator``), so the fleet can count
them per merchant and operator and say who needs training on what (``posguard.fleet.training``).

=============================== ==============================================================
``OPS.QUICK_VOID``              a sale (or completion) voided within :data:`QUICK_VOID_S`
``OPS.REFUND_INSTEAD_OF_VOID``  a refund of a sale still in the open batch (a void was due)
``OPS.PIN_RETRIES``             a second wrong-PIN decline (``55``) on one card within
                                :data:`PIN_WINDOW_S`
``OPS.KEYED_ENTRY_ERROR``       a keyed entry (22 = ``01x``) refused by a local card check or
                                declined ``14`` (no such card) / ``54`` (expired)
``OPS.CARD_READ_FALLBACK``      the :data:`FALLBACKS`-th chip-to-swipe fallback (22 = ``80x``)
                                within :data:`FALLBACK_WINDOW_S`
``OPS.OPERATION_CANCELLED``     the :data:`CANCELS`-th operation cancelled at the terminal
                                (``Terminal.note_cancelled``) within :data:`CANCEL_WINDOW_S`
=============================== ==============================================================

Training transactions are practice: they are reported too, marked ``training`` (the fleet
keeps them apart). Nothing here changes a transaction; it only reports.

>>> seen = []
>>> w = OperatorWatch(lambda code, **d: seen.append((code, d)), operator="07", clock=lambda: 0.0)
>>> for _ in range(3):
...     w.fallback(training=False)
>>> seen
[('OPS.CARD_READ_FALLBACK', {'operator': '07', 'count': 3, 'within_s': 600})]
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from posguard.terminal.engine.context import TxnInput
from posguard.terminal.journal.records import Kind
from posguard.terminal.result import Outcome, TransactionResult

QUICK_VOID_S: Final = 600
PIN_WINDOW_S: Final = 300
FALLBACKS: Final = 3
FALLBACK_WINDOW_S: Final = 600
CANCELS: Final = 3
CANCEL_WINDOW_S: Final = 600
_KEYED_DECLINES: Final = frozenset({"14", "54"})

Report = Callable[..., object]


class _Burst:
    """Times of one kind of slip; full when ``n`` fall within ``window`` seconds."""

    def __init__(self, n: int, window: float) -> None:
        self.n, self.window = n, window
        self.times: deque[float] = deque()

    def add(self, now: float) -> bool:
        self.times.append(now)
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) >= self.n:
            self.times.clear()  # one report per burst
            return True
        return False


class OperatorWatch:
    """Watches one terminal's operations; ``report(code, **data)`` emits the fault event."""

    def __init__(
        self, report: Report, *, operator: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._report = report
        self.operator = operator
        self._clock = clock
        self._fallbacks = _Burst(FALLBACKS, FALLBACK_WINDOW_S)
        self._cancels = _Burst(CANCELS, CANCEL_WINDOW_S)
        self._pin: dict[str, _Burst] = {}

    def _emit(self, code: str, *, training: bool, **data: object) -> None:
        extra = {"training": True} if training else {}
        self._report(code, operator=self.operator, **data, **extra)

    def observe(self, inp: TxnInput, result: TransactionResult, *, open_batch: str) -> None:
        """Look at one finished operation (what was asked, what came of it)."""
        training, done = result.training, result.outcome in (Outcome.APPROVED, Outcome.STORED)
        entry = inp.entry_mode[:2]
        if entry == "80":
            self.fallback(training=training)
        if entry == "01" and not done:
            self.keyed(rc=result.rc, code=result.code, training=training)
        if result.rc == "55":
            self.wrong_pin(masked_pan=result.masked_pan, training=training)
        orig, stan = inp.orig, result.stan or ""
        if orig is not None and done and inp.kind.cancels_original:
            self.voided(original_done_at=orig.completed_at, stan=stan, training=training)
        if orig is not None and done and inp.kind is Kind.REFUND:
            self.refunded(
                original_batch=orig.batch, open_batch=open_batch, stan=stan, training=training
            )

    def voided(self, *, original_done_at: str | None, stan: str, training: bool) -> None:
        """An approved void of the transaction completed at ``original_done_at`` (ISO time)."""
        if original_done_at is None:
            return
        age = (datetime.now(UTC) - datetime.fromisoformat(original_done_at)).total_seconds()
        if 0 <= age <= QUICK_VOID_S:
            self._emit("OPS.QUICK_VOID", training=training, stan=stan, after_s=round(age))

    def refunded(self, *, original_batch: str, open_batch: str, stan: str, training: bool) -> None:
        if original_batch == open_batch:
            self._emit("OPS.REFUND_INSTEAD_OF_VOID", training=training, stan=stan)

    def wrong_pin(self, *, masked_pan: str, training: bool) -> None:
        burst = self._pin.setdefault(masked_pan, _Burst(2, PIN_WINDOW_S))
        if burst.add(self._clock()):
            self._emit("OPS.PIN_RETRIES", training=training, masked_pan=masked_pan)

    def keyed(self, *, rc: str | None, code: str | None, training: bool) -> None:
        """A keyed entry's outcome: reported when the number or expiry was evidently wrong."""
        if rc in _KEYED_DECLINES or (code or "").startswith("CARD."):
            self._emit("OPS.KEYED_ENTRY_ERROR", training=training, rc=rc or "", cause=code or "")

    def fallback(self, *, training: bool) -> None:
        if self._fallbacks.add(self._clock()):
            self._emit(
                "OPS.CARD_READ_FALLBACK",
                training=training,
                count=FALLBACKS,
                within_s=FALLBACK_WINDOW_S,
            )

    def cancelled(self, *, stage: str, training: bool) -> None:
        if self._cancels.add(self._clock()):
            self._emit(
                "OPS.OPERATION_CANCELLED",
                training=training,
                stage=stage,
                count=CANCELS,
                within_s=CANCEL_WINDOW_S,
            )
