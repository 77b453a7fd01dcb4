"""Machine checks the fleet can answer from its own records, for the wizard in the browser:
``fleet.last_seen`` (heartbeats on time?) and ``fleet.recent_events`` (did the fault recur?).
Without a terminal id they report ``unavailable`` and the person does the step by hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posguard.catalog.checks import CheckResult
from posguard.fleet.db.models import EventRow, TerminalLiveness
from posguard.kb.wizard import CheckOutcome, CheckRequest, CheckRunner

HEARTBEAT_INTERVALS = 3


def fleet_runners(
    session: Session, *, now: datetime, default_heartbeat_s: int, merchant_id: str | None
) -> Mapping[str, CheckRunner]:
    def _scoped(req: CheckRequest) -> str | None:
        if req.terminal_id is None:
            return None
        q = select(EventRow.merchant_id).where(EventRow.terminal_id == req.terminal_id).limit(1)
        owner = session.scalar(q)
        if merchant_id is not None and owner is not None and owner != merchant_id:
            return None
        return req.terminal_id

    def last_seen(req: CheckRequest) -> CheckOutcome:
        tid = _scoped(req)
        if tid is None:
            return CheckOutcome(CheckResult.UNAVAILABLE, "no terminal given")
        row = session.execute(  # the terminal's liveness row: heartbeats are not events rows
            select(TerminalLiveness.last_heartbeat_at, TerminalLiveness.data).where(
                TerminalLiveness.terminal_id == tid
            )
        ).first()
        if row is None:
            return CheckOutcome(CheckResult.FAIL, f"no heartbeat from {tid} on record")
        ts, data = row
        interval = (data or {}).get("interval_s") or default_heartbeat_s
        late = now - ts > timedelta(seconds=float(interval) * HEARTBEAT_INTERVALS)
        detail = f"last heartbeat {ts:%Y-%m-%d %H:%M:%SZ}"
        return CheckOutcome(CheckResult.FAIL if late else CheckResult.PASS, detail)

    def recent_events(req: CheckRequest) -> CheckOutcome:
        tid = _scoped(req)
        if tid is None:
            return CheckOutcome(CheckResult.UNAVAILABLE, "no terminal given")
        n = (
            session.scalar(
                select(func.count()).where(
                    EventRow.terminal_id == tid,
                    EventRow.kind == "fault",
                    EventRow.code == req.code,
                    EventRow.ts >= now - timedelta(hours=24),
                )
            )
            or 0
        )
        result = CheckResult.FAIL if n >= 2 else CheckResult.WARN if n == 1 else CheckResult.PASS
        return CheckOutcome(result, f"{req.code} reported {n} times in 24 h")

    return {"fleet.last_seen": last_seen, "fleet.recent_events": recent_events}
