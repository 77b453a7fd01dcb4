"""A terminal's events as sentences people read: "Sale ¥1,234.50 approved", "Fault: Out of
paper" (the catalog's title), empty fields hidden, runs of heartbeats folded into one line.

A merchant reads what a merchant statement shows of a transaction (time, amount, outcome, the
card's last four digits), not the STAN, RRN, batch or masked card number of the staff's work.

>>> from datetime import UTC, datetime
>>> from posguard.catalog import default_catalog
>>> at = datetime(2026, 12, 2, 10, tzinfo=UTC)
>>> sale = Raw(1, at, "transaction", None, {"type": "sale", "amount": 123450, "outcome":
...     "approved", "rc": "00", "stan": "000123", "masked_pan": "622588******1234", "rrn": ""})
>>> line = describe_event(sale, t=_t, catalog=default_catalog(), lang="en", merchant=False)
>>> line.text, [k for k, _ in line.details]
('Sale ¥1,234.50 approved', ['rc', 'stan', 'masked_pan'])
>>> m = describe_event(sale, t=_t, catalog=default_catalog(), lang="en", merchant=True)
>>> m.details
[('rc', '00'), ('card', '•••• 1234')]
>>> beats = [Raw(i, at, "heartbeat", None, {}) for i in (5, 4, 3)]
>>> [(x.kind, x.count) for x in fold(beats + [sale], t=_t, catalog={}, lang="en", merchant=False)]
[('heartbeat', 3), ('transaction', 1)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from posguard.catalog.model import Entry
from posguard.fleet.web.formatting import yuan
from posguard.fleet.web.i18n import Translator, messages, translator

KINDS = (
    "transaction",
    "fault",
    "fault_cleared",
    "printer",
    "reversal",
    "command_result",
    "lifecycle",
    "heartbeat",
)
STAFF_ONLY = frozenset({"stan", "rrn", "batch", "masked_pan", "auth_code", "pan_hash", "trace"})
"""Fields a merchant does not see (its statement shows amount, outcome and the last digits)."""
IN_SENTENCE = {
    "transaction": {"type", "amount", "outcome"},
    "printer": {"state"},
    "reversal": {"stage", "amount"},
    "command_result": {"name", "status", "detail", "command_id"},
    "lifecycle": {"event"},
}


@dataclass(frozen=True, slots=True)
class Raw:
    """What the timeline reads of one stored event."""

    id: int
    ts: datetime
    kind: str
    code: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Line:
    id: int
    ts: datetime
    kind: str
    text: str
    code: str | None = None
    details: list[tuple[str, str]] = field(default_factory=list)
    count: int = 1
    first_ts: datetime | None = None  # a folded run: its oldest event


def _word(t: Translator, prefix: str, value: Any) -> str:
    key = f"{prefix}.{value}"
    return t(key) if key in messages() else str(value)


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _last4(masked: Any) -> str | None:
    digits = "".join(ch for ch in str(masked or "") if ch.isdigit())
    return f"•••• {digits[-4:]}" if len(digits) >= 4 else None


def _details(raw: Raw, *, merchant: bool) -> list[tuple[str, str]]:
    skip = IN_SENTENCE.get(raw.kind, set())
    out: list[tuple[str, str]] = []
    for key, value in raw.data.items():
        if key in skip or _blank(value) or (merchant and key in STAFF_ONLY):
            continue
        out.append((key, value if isinstance(value, str) else _plain(value)))
    if merchant and raw.kind == "transaction":
        card = _last4(raw.data.get("masked_pan"))
        if card:
            out.append(("card", card))
    return out


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_event(
    raw: Raw, *, t: Translator, catalog: Mapping[str, Entry], lang: str, merchant: bool
) -> Line:
    """One event as a sentence in ``lang`` with its remaining non-empty fields."""
    d = raw.data
    key = "zh" if lang.lower().startswith("zh") else "en"
    title = ""
    if raw.code:
        entry = catalog.get(raw.code)
        title = entry.title.get(key) if entry else raw.code
    if raw.kind == "transaction":
        text = t(
            "timeline.transaction",
            type=_word(t, "txn", d.get("type", "transaction")),
            amount=yuan(d["amount"]) if isinstance(d.get("amount"), int | float) else "",
            outcome=_word(t, "outcome", d.get("outcome", "unknown")),
        ).replace("  ", " ")
    elif raw.kind in ("fault", "fault_cleared"):
        text = t(f"timeline.{raw.kind}", title=title)
    elif raw.kind == "printer":
        text = t("timeline.printer", state=_word(t, "printer", d.get("state", "?")))
    elif raw.kind == "reversal":
        amount = yuan(d["amount"]) if isinstance(d.get("amount"), int | float) else ""
        text = t("timeline.reversal", stage=_word(t, "stage", d.get("stage", "?")), amount=amount)
    elif raw.kind == "command_result":
        text = t(
            "timeline.command_result",
            name=_word(t, "command", d.get("name", "?")),
            status=_word(t, "result", d.get("status", "?")),
        )
        if d.get("detail"):
            text += f": {d['detail']}"
    elif raw.kind == "lifecycle":
        text = t("timeline.lifecycle", event=_word(t, "lifecycle", d.get("event", "?")))
    elif raw.kind == "heartbeat":
        text = t("timeline.heartbeat")
    else:
        text = raw.kind
    return Line(raw.id, raw.ts, raw.kind, text.strip(), raw.code, _details(raw, merchant=merchant))


def fold(
    rows: Iterable[Raw],
    *,
    t: Translator,
    catalog: Mapping[str, Entry],
    lang: str,
    merchant: bool,
) -> list[Line]:
    """Sentences, newest first as given, with each run of heartbeats folded into one line."""
    out: list[Line] = []
    for raw in rows:
        if raw.kind == "heartbeat" and out and out[-1].kind == "heartbeat":
            prev = out[-1]
            out[-1] = Line(
                prev.id,
                prev.ts,
                "heartbeat",
                t("timeline.heartbeats", n=prev.count + 1),
                details=[],
                count=prev.count + 1,
                first_ts=raw.ts,
            )
            continue
        out.append(describe_event(raw, t=t, catalog=catalog, lang=lang, merchant=merchant))
    return out


def _t(key: str, **params: Any) -> str:
    """The English translator (for the doctests)."""
    return translator("en")(key, **params)


def page_lines(
    rows: Sequence[Raw], *, lang: str, catalog: Mapping[str, Entry], merchant: bool
) -> list[Line]:
    return fold(rows, t=translator(lang), catalog=catalog, lang=lang, merchant=merchant)
