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

from posguard.common.events import EventKind
from posguard.iso8583.codec import encode
from posguard.iso8583.framing import LengthHeader
from posguard.iso8583.mac import apply_mac
from posguard.iso8583.spec import load_spec
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine import messages
from posguard.terminal.engine.services import Services
from posguard.terminal.engine.session import HostSession
from posguard.terminal.journal.records import Record
from posguard.terminal.journal.store import Journal
from posguard.terminal.link.channel import Channel
from posguard.terminal.link.failover import HostLink
from posguard.terminal.operator_errors import OperatorWatch
from posguard.terminal.receipts import fault_slip, receipt_copies
from posguard.terminal.reversal import ReversalSender
from posguard.terminal.runtime_ops import TerminalOperations
from posguard.terminal.saf import AdviceForwarder

log = logging.getLogger("posguard.terminal")

Emit = Callable[..., object]
PrintReceipt = Callable[..., object]


class Terminal(TerminalOperations):
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
        """Half-open probe: an ISO echo test (0820/301) answered by the host; MACed when the
        terminal holds keys for that host (a signed-on host refuses an echo without, A0)."""
        s = self.services
        msg = messages.echo(self.cfg, s.journal.next_stan(), s.journal.current_batch())
        keys = s.session.keys_for(ch.endpoint.name)
        if keys is not None:
            msg = apply_mac(self.spec, msg, s.session.mac_alg, keys.mac_key)
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

    def reconfigure(self, config: TerminalConfig) -> None:
        """Take new values of the parameters a push applies live (``config_push``: the receipt
        header ``merchant_name`` and ``operator``) from the next transaction on."""
        self.cfg = config
        self.operator_watch.operator = config.operator
        if self._s is not None:
            self._s.cfg = config

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


async def _quietly(work: Callable[[], Awaitable[object]]) -> object:
    """Background work never raises into the loop: a failure is logged (and the journal still
    holds whatever was owed, for the next round)."""
    try:
        return await work()
    except Exception:
        log.exception("background work failed")
        return None
