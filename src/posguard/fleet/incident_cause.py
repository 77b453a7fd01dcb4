"""Is an incident's cause still there? Asked before a person resolves it by hand, from the
same signals the dashboard's terminal health uses (``fleet.web.queries.terminal_signals`` and
``fleet.web.health``): its printer's newest state and queue, its newest approved sale and the
host that approved it.

The incident's own code is left out of the signals first, so the answer rests on what the
terminal does, not on the incident being open. ``None`` means no signal says it is still
there (which is not proof it is fixed: a terminal that sends nothing shows nothing).

>>> from datetime import UTC, datetime, timedelta
>>> from posguard.catalog import default_catalog
>>> cat, t0 = default_catalog(), datetime(2026, 12, 2, 10, tzinfo=UTC)
>>> paper = Signals(codes={"PRN.PAPER_OUT": t0}, printer_state="paper_out")
>>> cause_in(paper, code="PRN.PAPER_OUT", opened_at=t0, primary_host="h", catalog=cat)
ActiveCause(reason='printer', detail='paper_out')
>>> fixed = Signals(codes={"PRN.PAPER_OUT": t0}, printer_state="ok")
>>> cause_in(fixed, code="PRN.PAPER_OUT", opened_at=t0, primary_host="h", catalog=cat) is None
True
>>> sold = Signals(approved_at=t0 + timedelta(minutes=1), approved_host="h")
>>> cause_in(sold, code="NET.READ_TIMEOUT", opened_at=t0, primary_host="h", catalog=cat) is None
True
>>> cause_in(Signals(), code="NET.READ_TIMEOUT", opened_at=t0, primary_host="h", catalog=cat)
ActiveCause(reason='no_sale_since', detail='')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from posguard.catalog.model import Category, Entry, Severity
from posguard.fleet.db.models import Incident, Terminal
from posguard.fleet.web.filters import Filters
from posguard.fleet.web.health import (
    DOWN_CODES,
    FROZEN_CODES,
    PRINTER_OK_STATES,
    QUEUED_RECEIPTS_LIMIT,
    Signals,
)
from posguard.fleet.web.queries import terminal_signals

MAX_MEMBERS_CHECKED = 200


@dataclass(frozen=True, slots=True)
class ActiveCause:
    """Why the cause looks still there: ``printer`` (its state in ``detail``), ``queue``
    (receipts waiting), ``no_sale_since`` (no approved sale since it opened), ``on_backup``
    (selling through another host than its own: ``detail``), ``members`` (``detail``: "n/m"
    terminals of a fleet-wide incident still affected)."""

    reason: str
    detail: str


def cause_in(
    signals: Signals,
    *,
    code: str,
    opened_at: datetime,
    primary_host: str | None,
    catalog: Mapping[str, Entry],
) -> ActiveCause | None:
    """Pure: the verdict for one terminal's signals (see the module docstring)."""
    s = dataclasses.replace(signals, codes={c: t for c, t in signals.codes.items() if c != code})
    if code.startswith("PRN."):
        state = (s.printer_state or "").lower()
        if state and state not in PRINTER_OK_STATES:
            return ActiveCause("printer", state)
        if s.receipts_queued >= QUEUED_RECEIPTS_LIMIT:
            return ActiveCause("queue", str(s.receipts_queued))
        return None
    entry = catalog.get(code)
    sold = s.approved_at is not None and s.approved_at >= opened_at
    network = entry is not None and entry.category is Category.NETWORK
    if network:
        if not sold:
            return ActiveCause("no_sale_since", "")
        if primary_host is not None and s.approved_host not in (None, primary_host):
            return ActiveCause("on_backup", str(s.approved_host))
        return None
    stops_sales = code in FROZEN_CODES or code in DOWN_CODES
    stops_sales = stops_sales or (entry is not None and entry.severity is Severity.CRITICAL)
    if stops_sales and not sold:
        return ActiveCause("no_sale_since", "")
    return None


def still_active(
    session: Session, *, incident: Incident, catalog: Mapping[str, Entry], now: datetime
) -> ActiveCause | None:
    """The verdict for an incident: its terminal's, or for a fleet-wide incident, whether
    every one of its (first ``MAX_MEMBERS_CHECKED``) terminals is still affected."""
    if incident.terminal_id is not None:
        tids = [incident.terminal_id]
    else:
        tids = [str(m) for m in incident.explanation.get("members", [])][:MAX_MEMBERS_CHECKED]
    if not tids:
        return None
    hosts = dict(
        session.query(Terminal.id, Terminal.acquirer_host).filter(Terminal.id.in_(tids)).all()
    )
    found = terminal_signals(
        session, filters=Filters(), now=now, catalog=catalog, terminal_ids=list(hosts)
    )
    verdicts = []
    for tid, host in hosts.items():
        signals, _ = found.get(tid, (Signals(), host))
        verdict = cause_in(
            signals,
            code=incident.code,
            opened_at=incident.opened_at,
            primary_host=host,
            catalog=catalog,
        )
        verdicts.append(verdict)
    active = [v for v in verdicts if v is not None]
    if incident.terminal_id is not None:
        return active[0] if active else None
    if active and len(active) == len(verdicts):
        return ActiveCause("members", f"{len(active)}/{len(verdicts)}")
    return None
