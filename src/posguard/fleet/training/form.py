"""A training session as a person types it (the dashboard's form on ``/ui/training``, and
``posguard fleet training record``): each field checked with a message in Chinese and English
naming what to fix, then recorded with :func:`~posguard.fleet.training.sessions.record_session`.

The date is a day: today's session is held *now*, an earlier day's at noon UTC (before/after
counts from there); a day after today is refused.

>>> from datetime import UTC, datetime
>>> now = datetime(2026, 12, 2, 9, tzinfo=UTC)
>>> held_at("2026-12-01", now).hour, held_at("2026-12-02", now) == now
(12, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Final

from sqlalchemy.orm import Session

from posguard.catalog.model import Category, Entry
from posguard.fleet.db.models import Merchant, TrainingSession
from posguard.fleet.training.sessions import record_session

OPERATOR_MAX: Final = 16
TRAINER_MAX: Final = 64
NOTE_MAX: Final = 2000


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    zh: str
    en: str

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@dataclass
class SessionForm:
    merchant_id: str = ""
    operator: str = ""
    topics: list[str] = field(default_factory=list)
    trainer: str = ""
    held_on: str = ""  # YYYY-MM-DD
    note: str = ""


def operator_topics(catalog: Mapping[str, Entry]) -> list[Entry]:
    """The catalog's operator-error entries, the topics a session can name."""
    return sorted(
        (e for e in catalog.values() if e.category is Category.OPERATOR), key=lambda e: e.code
    )


def held_at(held_on: str, now: datetime) -> datetime:
    """When a session held on ``held_on`` counts from (see the module doc); ValueError for a
    string that is not a date."""
    day = date.fromisoformat(held_on)
    return now if day == now.astimezone(UTC).date() else datetime.combine(day, time(12), UTC)


def check(
    session: Session, form: SessionForm, catalog: Mapping[str, Entry], now: datetime
) -> list[Problem]:
    """Every problem of ``form``, in field order; none: it can be recorded."""
    out: list[Problem] = []
    mid = form.merchant_id.strip()
    if not mid:
        out.append(Problem("merchant_id", "请选择商户。", "Choose the merchant."))
    elif session.get(Merchant, mid) is None:
        out.append(Problem("merchant_id", f"没有商户 {mid}。", f"There is no merchant {mid}."))
    if len(form.operator.strip()) > OPERATOR_MAX:
        out.append(
            Problem(
                "operator",
                f"操作员号最多 {OPERATOR_MAX} 个字符。",
                f"The operator ID is at most {OPERATOR_MAX} characters.",
            )
        )
    if not form.topics:
        out.append(
            Problem(
                "topics", "至少选择一个培训主题。", "Choose at least one topic that was trained."
            )
        )
    codes = {e.code for e in operator_topics(catalog)}
    unknown = [c for c in form.topics if c not in codes]
    if unknown:
        out.append(
            Problem(
                "topics",
                f"不是操作差错代码：{', '.join(unknown)}（应为 OPS.*）。",
                f"Not an operator-error code: {', '.join(unknown)} (expected OPS.*).",
            )
        )
    trainer = form.trainer.strip()
    if not trainer:
        out.append(Problem("trainer", "请填写培训人。", "Say who gave the training."))
    elif len(trainer) > TRAINER_MAX:
        out.append(
            Problem(
                "trainer",
                f"培训人最多 {TRAINER_MAX} 个字符。",
                f"The trainer is at most {TRAINER_MAX} characters.",
            )
        )
    try:
        when = held_at(form.held_on.strip(), now)
    except ValueError:
        out.append(
            Problem(
                "held_on",
                "培训日期应为 年-月-日，例如 2026-12-01。",
                "The date must be a day as YYYY-MM-DD, e.g. 2026-12-01.",
            )
        )
    else:
        if when > now:
            out.append(
                Problem("held_on", "培训日期不能晚于今天。", "The date cannot be after today.")
            )
    if len(form.note) > NOTE_MAX:
        out.append(
            Problem(
                "note",
                f"备注最多 {NOTE_MAX} 个字符。",
                f"The note is at most {NOTE_MAX} characters.",
            )
        )
    return out


def record_form(
    session: Session, form: SessionForm, catalog: Mapping[str, Entry], now: datetime
) -> TrainingSession | list[Problem]:
    """Record the session (the caller commits), or say every problem and record nothing."""
    problems = check(session, form, catalog, now)
    if problems:
        return problems
    return record_session(
        session,
        merchant_id=form.merchant_id.strip(),
        operator=form.operator.strip() or None,
        topics=_unique(form.topics),
        held_at=held_at(form.held_on.strip(), now),
        trainer=form.trainer.strip(),
        now=now,
        catalog=catalog,
        note=form.note.strip(),
    )


def _unique(codes: Iterable[str]) -> list[str]:
    return sorted(set(codes))
