"""Who needs training on what: per merchant (and per operator where the terminals name one),
operator-error rates against the fleet's, the topics to train, and the effect of the sessions
already held.

A topic (an ``OPS.*`` code) is on a merchant's list when, over the window, its rate per 1,000
live transactions is at least :data:`FACTOR` times the fleet's, it happened at least
:data:`MIN_ERRORS` times, and that many would be unlikely at the fleet's rate (Poisson upper
tail below :data:`SIGNIFICANCE`, as for the network report). Merchants with a topic come first,
the furthest above the fleet first. For each recorded session, the rate of its topics for that
merchant (or operator) in the :data:`EFFECT_DAYS` before it and after it (up to now) — the
measured effect of the training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Merchant, TrainingSession
from posguard.fleet.network_report.recommend import poisson_at_least
from posguard.fleet.training.counts import WHOLE_SHOP, Counts, Tally, count
from posguard.fleet.training.sessions import list_sessions

FACTOR: Final = 2.0
MIN_ERRORS: Final = 3
SIGNIFICANCE: Final = 0.01
EFFECT_DAYS: Final = 28


@dataclass(frozen=True, slots=True)
class TopicRate:
    code: str
    errors: int
    per_1000: float
    fleet_per_1000: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class TrainingItem:
    merchant_id: str
    merchant_name: str
    operator: str | None  # None: the whole shop
    transactions: int
    topics: tuple[TopicRate, ...]  # every code it made, flagged ones first

    @property
    def flagged(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.topics if t.flagged)


@dataclass(frozen=True, slots=True)
class SessionEffect:
    id: int
    merchant_id: str
    operator: str | None
    topics: tuple[str, ...]
    held_at: datetime
    trainer: str
    before_transactions: int
    before_per_1000: float | None
    after_transactions: int
    after_per_1000: float | None
    after_days: float


@dataclass(frozen=True, slots=True)
class TrainingList:
    since: datetime
    until: datetime
    days: int
    merchant_id: str | None
    fleet_transactions: int
    fleet_per_1000: dict[str, float]
    items: tuple[TrainingItem, ...]
    sessions: tuple[SessionEffect, ...]


def _flag(errors: int, transactions: int, fleet_rate: float) -> bool:
    if errors < MIN_ERRORS or not transactions:
        return False
    rate = 1000.0 * errors / transactions
    if rate < FACTOR * fleet_rate:
        return False
    expected = fleet_rate * transactions / 1000.0
    return expected <= 0 or poisson_at_least(errors, expected) < SIGNIFICANCE


def _item(merchant: str, name: str, operator: str, tally: Tally, fleet: Tally) -> TrainingItem:
    topics = []
    for code in sorted(tally.errors):
        fleet_rate = fleet.per_1000(code)
        topics.append(
            TopicRate(
                code,
                tally.errors[code],
                tally.per_1000(code),
                fleet_rate,
                _flag(tally.errors[code], tally.transactions, fleet_rate),
            )
        )
    topics.sort(key=lambda t: (not t.flagged, -t.per_1000, t.code))
    return TrainingItem(merchant, name, operator or None, tally.transactions, tuple(topics))


def _worst(item: TrainingItem) -> tuple[bool, float, str, str]:
    ratio = max(
        (t.per_1000 / t.fleet_per_1000 if t.fleet_per_1000 else t.per_1000 for t in item.topics),
        default=0.0,
    )
    return (not item.flagged, -ratio, item.merchant_id, item.operator or "")


def session_effect(session: Session, row: TrainingSession, *, now: datetime) -> SessionEffect:
    span = timedelta(days=EFFECT_DAYS)
    end = min(now, row.held_at + span)
    before = count(
        session, since=row.held_at - span, until=row.held_at, merchant_id=row.merchant_id
    )
    after = count(session, since=row.held_at, until=end, merchant_id=row.merchant_id)
    key = (row.merchant_id, row.operator or WHOLE_SHOP)
    b, a = before.by.get(key, Tally()), after.by.get(key, Tally())
    return SessionEffect(
        id=row.id,
        merchant_id=row.merchant_id,
        operator=row.operator,
        topics=tuple(row.topics),
        held_at=row.held_at,
        trainer=row.trainer,
        before_transactions=b.transactions,
        before_per_1000=b.rate_of(row.topics),
        after_transactions=a.transactions,
        after_per_1000=a.rate_of(row.topics),
        after_days=round((end - row.held_at).total_seconds() / 86_400, 1),
    )


def training_list(
    session: Session, *, now: datetime, days: int = 28, merchant_id: str | None = None
) -> TrainingList:
    """The list over the ``days`` up to ``now``; ``merchant_id`` keeps that merchant's part
    (judged against the whole fleet)."""
    if not 1 <= days <= 365:
        raise ValueError(f"days must be 1..365, not {days}")
    since = now - timedelta(days=days)
    counts: Counts = count(session, since=since, until=now)
    names: dict[str, str] = dict(session.execute(select(Merchant.id, Merchant.name)).all())
    items = [
        _item(m, names.get(m, m), op, tally, counts.fleet)
        for (m, op), tally in counts.by.items()
        if merchant_id is None or m == merchant_id
    ]
    held = list_sessions(session, merchant_id=merchant_id)
    effects = [session_effect(session, row, now=now) for row in held]
    return TrainingList(
        since=since,
        until=now,
        days=days,
        merchant_id=merchant_id,
        fleet_transactions=counts.fleet.transactions,
        fleet_per_1000={c: counts.fleet.per_1000(c) for c in sorted(counts.fleet.errors)},
        items=tuple(sorted(items, key=_worst)),
        sessions=tuple(effects),
    )
