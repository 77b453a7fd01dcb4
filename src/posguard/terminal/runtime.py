"""The `Terminal` a POS application uses: one object that owns the journal, the host link and
the session, runs each operation as a flow of participants, and returns a
:class:`~posguard.terminal.result.TransactionResult` (never raises for a failed payment).

Hooks (both optional, both must not block for long):

- ``emit(kind: EventKind, code: str | None = None, **data)`` for every fault, transaction
  outcome, reversal and lifecycle step; ``data`` holds masked card numbers only.
- ``print_receipt(ReceiptData)`` when a transaction is completed (merchant copy, then
  cardholder copy); raising from it means "not completed", and a sale is then reversed (96).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date
from types import TracebackType

from posguard.card import mask_pan
from posguard.common.events import EventKind
from posguard.iso8583.codec import encode
from posguard.iso8583.framing import LengthHeader
from posguard.iso8583.spec import load_spec
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine import flow, messages
from posguard.terminal.engine.advice import ForwardAdvice
from posguard.terminal.engine.backlog import ClearReversals, SignedOn
from posguard.terminal.engine.complete import Complete
from posguard.terminal.engine.context import Context, TxnInput
from posguard.terminal.engine.exchange import Exchange
from posguard.terminal.engine.local import CheckLocal
from posguard.terminal.engine.services import Services
from posguard.terminal.engine.session import HostSession, Reply
from posguard.terminal.engine.settlement import SettlementResult, settle
from posguard.terminal.engine.writeahead import WriteAhead
from posguard.terminal.journal.records import Kind, Record, TxnState
from posguard.terminal.journal.store import Journal
from posguard.terminal.link.channel import Channel
from posguard.terminal.link.failover import HostLink
from posguard.terminal.operator_errors import OperatorWatch
from posguard.terminal.pinpad import PinPad
from posguard.terminal.receipts import fault_slip, receipt_copies
from posguard.terminal.result import Outcome, TransactionResult
from posguard.terminal.reversal import ReversalSender
from posguard.terminal.saf import AdviceForwarder

log = logging.getLogger("posguard.terminal")

Emit = Callable[..., object]
PrintReceipt = Callable[..., object]


_VOID_OF = {
    Kind.SALE: Kind.VOID,
    Kind.PREAUTH: Kind.PREAUTH_VOID,
    Kind.COMPLETION: Kind.COMPLETION_VOID,
}


class Terminal:
    def __init__(
        self,
        config: TerminalConfig,
        *,
        emit: Emit | None = None,
        print_receipt: PrintReceipt | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.cfg = config
        self._emit_hook = emit
        self._print = print_receipt
        self._today = today
        self._lock = asyncio.Lock()
        self.spec = load_spec(config.spec)
        self._journal: Journal | None = None
        self._link: HostLink | None = None
        self._s: Services | None = None
        self.recovered: dict[str, int] = {}  # what the last start() found unfinished
        self._background: set[asyncio.Task[object]] = set()
        # operator errors it can tell (catalog OPS.*), reported as fault events
        self.operator_watch = OperatorWatch(
            lambda code, **data: self._emit(EventKind.FAULT, code, **data),
            operator=config.operator,
        )

    # -- life cycle ----------------------------------------------------------------------------

    def _emit(self, kind: EventKind, code: str | None = None, **data: object) -> None:
        if self._emit_hook is None:
            return
        try:
            self._emit_hook(kind, code, **data)
        except Exception:  # a telemetry hook never breaks a payment
            log.exception("emit hook failed for %s %s", kind, code)

    async def start(self) -> dict[str, int]:
        """Open the journal, recover from a crash, and send what is owed (best effort)."""
        journal = Journal.open(
            self.cfg.journal_path,
            key=self.cfg.vault_key_bytes(),
            terminal_id=self.cfg.terminal_id,
            legacy_keys=(self.cfg.tmk_bytes,),
        )
        self._journal = journal
        recovered = journal.recover()
        self.recovered = recovered
        self._link = HostLink(
            self.cfg.hosts,
            self.cfg.timeouts,
            breaker=self.cfg.breaker,
            header=LengthHeader[self.cfg.length_header],
            probe=self._echo_probe,
            emit=self._emit,
        )
        session = HostSession(self.cfg, self.spec, self._link, journal, self._emit)
        reversals = ReversalSender(session, on_failed=self._reversal_slip)
        self._s = Services(
            cfg=self.cfg,
            session=session,
            journal=journal,
            reversals=reversals,
            advices=AdviceForwarder(session),
            complete=self._complete,
            today=self._today,
        )
        self._emit(EventKind.LIFECYCLE, None, event="start", **recovered)
        for rec in journal.pending_reversals():
            if rec.reversal_attempts == 0:
                reversals.queued(rec)
        await self.catch_up()
        return recovered

    async def close(self) -> None:
        await self.drain()
        if self._link is not None:
            await self._link.aclose()
        if self._journal is not None:
            self._journal.close()
        self._s = self._journal = self._link = None

    async def __aenter__(self) -> Terminal:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def services(self) -> Services:
        if self._s is None:
            raise RuntimeError(
                "terminal not started: use `async with Terminal(...)` or await start()"
            )
        return self._s

    @property
    def journal(self) -> Journal:
        return self.services.journal

    @property
    def link(self) -> HostLink:
        assert self._link is not None
        return self._link

    def _in_background(self, work: Callable[[], Awaitable[object]]) -> None:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(_quietly(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the work started in the background (a reversal sent after the operator
        was answered)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def catch_up(self, *, only_due: bool = False) -> tuple[int, int]:
        """Send pending reversals, then queued advices; (reversals left, advices left)."""
        s = self.services
        async with self._lock:
            r = await s.reversals.run(only_due=only_due)
            a = await s.advices.run(only_due=only_due) if r.still_pending == 0 else None
        return r.still_pending, (a.still_queued if a else len(s.journal.pending_advices()))

    async def maintain(self, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """Until ``stop`` is set: every ``interval`` seconds send the reversals and advices
        whose backoff has run out (run it as a task beside the POS application)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set() or self._s is None:
                return
            j = self._s.journal
            if j.pending_reversals(due_before=time.time()) or j.pending_advices(
                due_before=time.time()
            ):
                await self.catch_up(only_due=True)
            await self.keep_signed_on()

    async def keep_signed_on(self) -> list[str]:
        """Sign on to every reachable host that has no session yet (a backup included), so
        the first sale after a failover is not refused 77; the names signed on to."""
        s = self.services
        done = []
        for name in s.session.link.available():
            if s.session.keys_for(name) is not None:
                continue
            async with self._lock:
                if await s.session.ensure_signed_on(name) is None:
                    done.append(name)
        return done

    async def _echo_probe(self, ch: Channel) -> None:
        """Half-open probe: an ISO echo test (0820/301) answered by the host."""
        s = self.services
        msg = messages.echo(self.cfg, s.journal.next_stan(), s.journal.current_batch())
        await ch.send(encode(self.spec, msg))
        await ch.receive()

    # -- completion hook -----------------------------------------------------------------------

    def _complete(self, rec: Record) -> None:
        if self._print is None:
            return
        for copy in receipt_copies(self.cfg, rec):
            self._print(copy)

    def _reversal_slip(self, rec: Record, _why: str) -> None:
        """The fault slip of a reversal given up on (merchant copy only)."""
        if self._print is not None:
            self._print(fault_slip(self.cfg, rec))

    # -- operations ----------------------------------------------------------------------------

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
            CheckLocal(s),
            SignedOn(s),
            ClearReversals(s),
            WriteAhead(s),
            Exchange(s),
            Complete(s),
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
            if inp.kind is Kind.REFUND:
                steps: list[flow.Participant] = [CheckLocal(s), WriteAhead(s), ForwardAdvice(s)]
            else:
                steps = self._financial()
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

    def heartbeat_fields(self) -> dict[str, object]:
        """What the runtime adds to a heartbeat (``common.events``): the round trip of the last
        answer from a host, whether that host was a backup, and training mode; nothing before
        ``start()``."""
        out: dict[str, object] = {}
        answer = self._link.last_answer if self._link is not None else None
        if answer is not None:
            out["rtt_ms"] = round(answer.seconds * 1000.0, 1)
            out["failover"] = answer.host != self.cfg.hosts[0].name
        if self._journal is not None and self._journal.training:
            out["training"] = True
        return out

    def note_cancelled(self, stage: str) -> None:
        """The POS application says the operator cancelled an operation (wrong menu, left at
        ``stage``): repeated cancels are reported (``OPS.OPERATION_CANCELLED``)."""
        training = self._journal is not None and self._journal.training
        self.operator_watch.cancelled(stage=stage, training=training)

    # -- training mode -------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """Whether transactions are practice (培训模式): marked on the wire, answered by the
        host without booking, printed TRAINING / 培训, kept out of totals and settlement."""
        return self.journal.training

    async def set_training(self, on: bool) -> bool:
        """Enter or leave training mode (between transactions); whether it changed. Recorded
        in the journal and reported as a lifecycle event."""
        async with self._lock:
            changed = self.journal.set_training(on)
        if changed:
            self._emit(EventKind.LIFECYCLE, None, event="training", on=on)
        return changed

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
            result = await settle(s.session, s.reversals, s.advices)
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

    # -- results -------------------------------------------------------------------------------

    def _result(self, ctx: Context) -> TransactionResult:
        rec = ctx.record
        outcome = ctx.outcome or Outcome.FAILED_NO_CHARGE
        code = None if outcome is Outcome.APPROVED else ctx.code
        kind = ctx.input.kind
        if outcome is Outcome.APPROVED and ctx.rc not in (None, "00"):
            code = ctx.code
        result = TransactionResult(
            outcome=outcome,
            kind=kind.value,
            amount=rec.amount if rec else ctx.input.amount,
            masked_pan=rec.masked_pan if rec else mask_pan(ctx.input.pan),
            rc=ctx.rc,
            code=code,
            stan=rec.stan if rec else None,
            batch=rec.batch if rec else None,
            rrn=rec.rrn if rec else None,
            auth_code=rec.auth_code if rec else None,
            host=ctx.host,
            balance=ctx.balance,
            reversal_reason=rec.reversal_reason
            if rec and rec.state is not TxnState.COMPLETED
            else None,
            training=rec.training if rec else ctx.input.training,
        )
        self._emit(
            EventKind.TRANSACTION,
            result.code,
            type=result.kind,
            outcome=result.outcome.value,
            rc=result.rc or "",
            amount=result.amount,
            stan=result.stan or "",
            batch=result.batch or "",
            masked_pan=result.masked_pan,
            host=result.host or "",
            operator=self.cfg.operator,
            **({"training": True} if result.training else {}),
        )
        try:
            self.operator_watch.observe(ctx.input, result, open_batch=self.journal.current_batch())
        except Exception:  # noticing an operator's slip never breaks a payment
            log.exception("operator watch failed")
        return result


async def _quietly(work: Callable[[], Awaitable[object]]) -> object:
    """Background work never raises into the loop: a failure is logged (and the journal still
    holds whatever was owed, for the next round)."""
    try:
        return await work()
    except Exception:
        log.exception("background work failed")
        return None
