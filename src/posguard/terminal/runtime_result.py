"""The result of one operation: what the POS application gets, and the ``transaction`` event
the fleet gets (masked card number only)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from posguard.card import mask_pan
from posguard.common.events import EventKind
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine.context import Context
from posguard.terminal.journal.records import TxnState
from posguard.terminal.journal.store import Journal
from posguard.terminal.operator_errors import OperatorWatch
from posguard.terminal.result import Outcome, TransactionResult

log = logging.getLogger("posguard.terminal")


def transaction_result(
    ctx: Context,
    *,
    cfg: TerminalConfig,
    journal: Journal,
    emit: Callable[..., None],
    watch: OperatorWatch,
) -> TransactionResult:
    """The operation's result from its context, reported as a ``transaction`` event and shown
    to the operator watch (which never breaks a payment)."""
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
    emit(
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
        # answered by a backup host (the list order is the failover order), as the heartbeat's
        failover=bool(result.host) and bool(cfg.hosts) and result.host != cfg.hosts[0].name,
        operator=cfg.operator,
        **({"training": True} if result.training else {}),
    )
    try:
        watch.observe(ctx.input, result, open_batch=journal.current_batch())
    except Exception:  # noticing an operator's slip never breaks a payment
        log.exception("operator watch failed")
    return result
