"""What the incident page shows of the workflow: the assignee, the choices for assigning and
resolving, the SLA clocks, and the audit trail (a merchant: its merchant-safe entries only,
without who or from where)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet import audit
from posguard.fleet.db.models import Incident, User
from posguard.fleet.incident_actions import STAFF
from posguard.fleet.incident_policy import RESOLUTION_REASONS, IncidentPolicy, reason_label
from posguard.fleet.sla import SlaStatus, evaluate
from posguard.fleet.web.i18n import lang_key
from posguard.fleet.web.session import WebUser


def fmt_duration(seconds: float) -> str:
    """A duration for people: ``2d 3h``, ``1h 05m``, ``12m``, ``40s``.

    >>> fmt_duration(40), fmt_duration(720), fmt_duration(3900), fmt_duration(2 * 86400 + 3 * 3600)
    ('40s', '12m', '1h 05m', '2d 3h')
    """
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h}h"


def assignee_label(value: str | None, policy: IncidentPolicy, lang: str) -> str | None:
    """``team:network`` -> the team's name in ``lang``; ``user:ops`` -> ``ops``.

    >>> from posguard.fleet.incident_policy import default_policy
    >>> p = default_policy()
    >>> assignee_label("team:network", p, "zh"), assignee_label("user:li", p, "en")
    ('网络组', 'li')
    """
    if value is None:
        return None
    kind, _, ident = value.partition(":")
    team = policy.team(ident) if kind == "team" else None
    if team is None:
        return ident
    return team.name.zh if lang_key(lang) == "zh" else team.name.en


def sla_status(inc: Incident, policy: IncidentPolicy, now: datetime) -> SlaStatus | None:
    target = policy.sla.get(inc.severity)
    if target is None or inc.status == "merged":
        return None
    return evaluate(
        target,
        opened_at=inc.opened_at,
        acknowledged_at=inc.acknowledged_at,
        resolved_at=inc.resolved_at,
        now=now,
    )


def staff_users(session: Session) -> list[str]:
    roles = [r.value for r in STAFF]
    q = select(User.username).where(User.role.in_(roles), User.disabled.is_(False))
    return list(session.scalars(q.order_by(User.username)))


def workflow_context(
    session: Session, *, inc: Incident, user: WebUser, policy: IncidentPolicy, now: datetime
) -> dict[str, Any]:
    merchant = user.merchant_scope is not None
    rows = audit.entries(session, incident_id=inc.id, merchant_view=merchant)
    lk = lang_key(user.lang)
    return {
        "audit": [audit.public_entry(e, merchant_view=merchant) for e in rows],
        "sla": sla_status(inc, policy, now),
        "teams": [(t.id, t.name.zh if lk == "zh" else t.name.en) for t in policy.teams],
        "assignable_users": staff_users(session) if user.is_staff else [],
        "reasons": [(r, reason_label(r, lk)) for r in RESOLUTION_REASONS],
        "reason_label": lambda r: reason_label(r, lk),
        "assignee": None if merchant else assignee_label(inc.assignee, policy, user.lang),
        "duration": fmt_duration,
        # how long it has been open (until now, or until it was resolved)
        "age_s": ((inc.resolved_at or now) - inc.opened_at).total_seconds(),
    }
