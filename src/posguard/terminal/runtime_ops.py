"""The terminal's operations (sale, balance, pre-authorisation, void, refund, completion,
settlement, sign-on, echo): each a flow of participants run under the runtime's lock, its
result built by :mod:`posguard.terminal.runtime_result`. Mixed into
:class:`posguard.terminal.runtime.Terminal`, which supplies what is declared below."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from posguard.common.events import EventKind
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine import flow, messages
from posguard.terminal.engine.advice import ForwardAdvice
from posguard.terminal.engine.backlog import ClearReversals, SignedOn
from posguard.terminal.engine.complete import Complete
from posguard.terminal.engine.context import Context, TxnInput
from posguard.terminal.engine.exchange import Exchange
from posguard.terminal.engine.local import CheckLocal
from posguard.terminal.engine.services import Services
from posguard.terminal.engine.session import Reply
from posguard.terminal.engine.settlement import SettlementResult, settle
from posguard.terminal.engine.writeahead import WriteAhead
from posguard.terminal.journal.records import Kind, Record
from posguard.terminal.journal.store import Journal
from posguard.terminal.operator_errors import OperatorWatch
from posguard.terminal.pinpad import PinPad
from posguard.terminal.result import Outcome, TransactionResult
from posguard.terminal.runtime_result import transaction_result

_VOID_OF = {
    Kind.SALE: Kind.VOID,
    Kind.PREAUTH: Kind.PREAUTH_VOID,
    Kind.COMPLETION: Kind.COMPLETION_VOID,
}


def _write_ahead(s: Services) -> WriteAhead:
    return WriteAhead(journal=s.journal, reversals=s.reversals, currency=s.cfg.currency)


class TerminalOperations:
    """The operations of a started terminal."""

    cfg: TerminalConfig
    operator_watch: OperatorWatch
    _lock: asyncio.Lock
    _s: Services | None

    if TYPE_CHECKING:

        @property
        def services(self) -> Services: ...

        @property
        def journal(self) -> Journal: ...

        def _emit(self, kind: EventKind, code: str | None = None, **data: object) -> None: ...

        def _in_background(self, work: Callable[[], Awaitable[object]]) -> None: ...

        async def catch_up(self, *, only_due: bool = False) -> tuple[int, int]: ...

    async def _run(self, steps: list[flow.Participant], ctx: Context) -> TransactionResult:
        await flow.run(steps, ctx)
        if ctx.reverse_in_background:
            # The operator has waited the read timeout already: answer now, reverse right after
            # (the reversal is in the journal; catch_up takes the lock once this op is done).
            self._in_background(lambda: self.catch_up())
        return self._result(ctx)

    def _financial(self) -> list[flow.Participant]:
        s = self.services
        return [
            CheckLocal(today=s.today),
            SignedOn(session=s.session),
            ClearReversals(journal=s.journal, reversals=s.reversals),
            _write_ahead(s),
            Exchange(cfg=s.cfg, session=s.session),
            Complete(journal=s.journal, complete=s.complete),
        ]

    def _refund(self) -> list[flow.Participant]:
        s = self.services
        return [
            CheckLocal(today=s.today),
            _write_ahead(s),
            ForwardAdvice(
                journal=s.journal, reversals=s.reversals, advices=s.advices, complete=s.complete
            ),
        ]

    async def _do(self, inp: TxnInput, pin_pad: PinPad | None = None) -> TransactionResult:
        s = self.services
        async with self._lock:
            if pin_pad is not None:
                failed = await s.session.ensure_signed_on()
                keys = s.session.keys
                if failed is None and keys is not None:
                    inp.pin_block = pin_pad.pin_block(keys.pin_key, inp.pan)
            inp.training = s.journal.training
            ctx = Context(inp)
            steps = self._refund() if inp.kind is Kind.REFUND else self._financial()
            return await self._run(steps, ctx)

    async def sale(
        self,
        pan: str,
        expiry: str,
        amount: int,
        *,
        entry_mode: str = "051",
        pin_pad: PinPad | None = None,
    ) -> TransactionResult:
        """A sale. ``pin_pad`` gives the PIN block, encrypted under the session's PIN key: the
        runtime never sees a clear PIN."""
        inp = TxnInput(Kind.SALE, amount, pan, expiry, entry_mode)
        return await self._do(inp, pin_pad)

    async def balance_inquiry(
        self,
        pan: str,
        expiry: str,
        *,
        entry_mode: str = "051",
        pin_pad: PinPad | None = None,
    ) -> TransactionResult:
        inp = TxnInput(Kind.BALANCE, 0, pan, expiry, entry_mode)
        return await self._do(inp, pin_pad)

    async def preauth(
        self,
        pan: str,
        expiry: str,
        amount: int,
        *,
        entry_mode: str = "051",
        pin_pad: PinPad | None = None,
    ) -> TransactionResult:
        inp = TxnInput(Kind.PREAUTH, amount, pan, expiry, entry_mode)
        return await self._do(inp, pin_pad)

    def _original(self, stan: str, batch: str | None, kinds: tuple[Kind, ...]) -> Record | None:
        """The original of a follow-up: of the kinds given, and of the current mode (a training
        sale is voided in training only, a live one only live)."""
        rec = self.journal.find(stan=stan, batch=batch)
        if rec is None or rec.kind not in kinds or rec.training != self.journal.training:
            return None
        return rec

    def _no_original(self, kind: Kind, stan: str) -> TransactionResult:
        result = TransactionResult(
            outcome=Outcome.FAILED_NO_CHARGE,
            kind=kind.value,
            code="TXN.ORIGINAL_NOT_FOUND",
            stan=None,
        )
        self._emit(
            EventKind.TRANSACTION,
            result.code,
            type=kind.value,
            outcome=result.outcome.value,
            original_stan=stan,
        )
        return result

    async def _follow_up(
        self,
        kind: Kind,
        stan: str,
        batch: str | None,
        amount: int | None,
        originals: tuple[Kind, ...],
    ) -> TransactionResult:
        orig = self._original(stan, batch, originals)
        if orig is None:
            return self._no_original(kind, stan)
        pan, expiry = self.journal.card(orig)
        amt = orig.amount if amount is None else amount
        return await self._do(TxnInput(kind, amt, pan, expiry, orig.entry_mode, orig))

    async def void(self, stan: str, *, batch: str | None = None) -> TransactionResult:
        """Void a sale, a pre-authorisation or a pre-auth completion (0200, 60.1 = 21) of the
        current batch by its STAN."""
        voidable = tuple(_VOID_OF)
        orig = self._original(stan, batch, voidable)
        kind = _VOID_OF[orig.kind] if orig is not None else Kind.VOID
        return await self._follow_up(kind, stan, batch, None, voidable)

    async def refund(
        self, stan: str, amount: int, *, batch: str | None = None
    ) -> TransactionResult:
        """Refund (part of) a completed sale; an advice, stored and forwarded if needed."""
        return await self._follow_up(Kind.REFUND, stan, batch, amount, (Kind.SALE, Kind.COMPLETION))

    async def completion(
        self, stan: str, amount: int, *, batch: str | None = None
    ) -> TransactionResult:
        """Complete a pre-authorisation (for up to 115 % of it, by the host's rule)."""
        return await self._follow_up(Kind.COMPLETION, stan, batch, amount, (Kind.PREAUTH,))

    async def settle(self) -> SettlementResult:
        s = self.services
        async with self._lock:
            result = await settle(
                cfg=s.cfg,
                session=s.session,
                journal=s.journal,
                reversals=s.reversals,
                advices=s.advices,
            )
        self._emit(
            EventKind.LIFECYCLE,
            result.code,
            event="settlement",
            balanced=result.balanced,
            batch=result.batch,
            next_batch=result.next_batch,
            uploaded=result.uploaded,
            rc=result.rc or "",
        )
        return result

    async def sign_on(self) -> Reply:
        async with self._lock:
            return await self.services.session.sign_on()

    def mac_key_for(self, host: str) -> bytes | None:
        """The session MAC key with ``host`` (None when not signed on to it): what the doctor's
        ISO echo needs to carry a MAC (``DoctorConfig(mac_keys=terminal.mac_key_for)``)."""
        if self._s is None:
            return None
        keys = self._s.session.keys_for(host)
        return keys.mac_key if keys is not None else None

    async def echo(self) -> Reply:
        s = self.services
        async with self._lock:
            msg = messages.echo(self.cfg, s.journal.next_stan(), s.journal.current_batch())
            return await s.session.exchange(msg, mac=s.session.keys is not None)

    def _result(self, ctx: Context) -> TransactionResult:
        return transaction_result(
            ctx, cfg=self.cfg, journal=self.journal, emit=self._emit, watch=self.operator_watch
        )
