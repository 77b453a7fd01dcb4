"""What a notification says, built from incident facts and the catalog, in zh or en, and its
plain-text and markdown renderings (the channels wrap these in their own formats).

Pure: no database, no network.

>>> from datetime import UTC, datetime
>>> f = IncidentFacts(id=7, code="PRN.PAPER_OUT", severity="minor", status="open",
...     scope="terminal:T1", terminal_id="T1", merchant_id="M01",
...     opened_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC), by=None)
>>> m = build_message([f], transition="open", lang="en", audience="ops", catalog={},
...     public_url="https://fleet.example", key="k1")
>>> m.title
'[MINOR] New incident: PRN.PAPER_OUT'
>>> m.items[0].link
'https://fleet.example/ui/incidents/7'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from posguard.catalog.model import Audience, Entry, Severity

_SEVERITY = {
    "critical": ("严重", "CRITICAL"),
    "major": ("重要", "MAJOR"),
    "minor": ("次要", "MINOR"),
    "info": ("提示", "INFO"),
}
_TRANSITION = {
    "open": ("新故障", "New incident"),
    "escalate": ("升级提醒(第{n}级):仍无人确认", "Escalation level {n}: still unacknowledged"),
    "ack": ("已确认", "Acknowledged"),
    "resolve": ("已解决", "Resolved"),
    "assign": ("已指派", "Assigned"),
    "reopen": ("重新打开", "Reopened"),
    "sla": ("超出服务时限:{n}", "SLA breached: {n}"),
    "test": ("测试", "Test"),
}
_SLA_CLOCK = {
    "ack": ("未及时确认", "not acknowledged in time"),
    "resolve": ("未及时解决", "not resolved in time"),
}
_SCOPE = {
    "terminal": ("终端", "terminal"),
    "host": ("收单主机", "acquirer host"),
    "area": ("区域", "area"),
    "model": ("机型", "model"),
    "issuer": ("发卡行", "issuer"),
}
_LABELS = {
    "severity": ("级别", "Severity"),
    "scope": ("范围", "Scope"),
    "code": ("故障码", "Code"),
    "opened": ("发生时间", "Opened"),
    "merchant": ("商户", "merchant"),
    "steps": ("处理步骤", "What to do"),
    "link": ("查看详情", "Open the incident"),
    "by": ("处理人", "By"),
    "more": ("另有 {n} 个未列出", "{n} more not listed"),
    "incidents": ("{n} 个故障", "{n} incidents"),
}


def _t(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """One incident as a message tells it (read from its row)."""

    id: int
    code: str
    severity: str
    status: str
    scope: str
    terminal_id: str | None
    merchant_id: str | None
    opened_at: datetime
    by: str | None  # who acknowledged / resolved / reopened, or the assignee


@dataclass(frozen=True, slots=True)
class Item:
    incident_id: int
    title: str
    severity: str
    code: str
    scope: str
    opened_at: str  # for people: "2026-11-25 10:00 UTC"
    opened_iso: str  # for machines: ISO 8601
    steps: tuple[str, ...]
    link: str
    by: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One message to one recipient; a storm digest has several items."""

    key: str  # idempotency key of the message (receivers may dedupe on it)
    transition: str  # open | escalate:<n> | ack | resolve | assign:<k> | reopen:<k>
    lang: str
    audience: str  # ops | merchant
    title: str
    severity: str  # the worst of the items
    items: tuple[Item, ...]
    more: int  # items left out of a long digest
    thread: str  # the same for every message about one incident

    @property
    def kind(self) -> str:
        return self.transition.partition(":")[0]


def scope_text(facts: IncidentFacts, lang: str) -> str:
    kind, _, value = facts.scope.partition(":")
    text = f"{_t(_SCOPE.get(kind, (kind, kind)), lang)} {value}"
    if kind == "terminal" and facts.merchant_id:
        text += f" ({_t(_LABELS['merchant'], lang)} {facts.merchant_id})"
    return text


def _item(
    f: IncidentFacts, *, lang: str, audience: str, entry: Entry | None, public_url: str
) -> Item:
    title = entry.title.get(lang) if entry else f.code
    steps: tuple[str, ...] = ()
    if entry is not None and (audience == "ops" or Audience.MERCHANT in entry.audience):
        steps = tuple(s.get(lang) for s in entry.steps)
    return Item(
        incident_id=f.id,
        title=title,
        severity=f.severity,
        code=f.code,
        scope=scope_text(f, lang),
        opened_at=f.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
        opened_iso=f.opened_at.isoformat(),
        steps=steps,
        link=f"{public_url.rstrip('/')}/ui/incidents/{f.id}",
        by=f.by,
    )


def _worst(severities: Sequence[str]) -> str:
    known = [Severity(s) for s in severities if s in Severity.__members__.values()]
    return max(known, key=lambda s: s.rank).value if known else severities[0]


def build_message(
    facts: Sequence[IncidentFacts],
    *,
    transition: str,
    lang: str,
    audience: str,
    catalog: Mapping[str, Entry],
    public_url: str,
    key: str,
    max_items: int = 20,
) -> Message:
    """One message about one incident, or a digest about several (a storm)."""
    if not facts:
        raise ValueError("a message is about at least one incident")
    items = tuple(
        _item(f, lang=lang, audience=audience, entry=catalog.get(f.code), public_url=public_url)
        for f in facts[:max_items]
    )
    severity = _worst([f.severity for f in facts])
    kind, _, level = transition.partition(":")
    level = level.partition(":")[0]
    if kind == "sla":
        level = _t(_SLA_CLOCK.get(level, (level, level)), lang)
    label = _t(_TRANSITION[kind], lang).format(n=level)
    sev = _t(_SEVERITY.get(severity, (severity, severity.upper())), lang)
    subject = (
        items[0].title if len(facts) == 1 else _t(_LABELS["incidents"], lang).format(n=len(facts))
    )
    sep = ":" if lang == "zh" else ": "
    return Message(
        key=key,
        transition=transition,
        lang=lang,
        audience=audience,
        title=f"[{sev}] {label}{sep}{subject}",
        severity=severity,
        items=items,
        more=len(facts) - len(items),
        thread=f"incident-{facts[0].id}" if len(facts) == 1 else f"digest-{key[:16]}",
    )


def markdown(msg: Message, *, heading: str = "### ") -> str:
    """The message as markdown (the subset DingTalk, WeCom and Feishu all render)."""
    lang = msg.lang
    lines = [f"{heading}{msg.title}", ""]
    for it in msg.items:
        if len(msg.items) > 1:
            lines.append(f"**#{it.incident_id} {it.title}**")
        sev = _t(_SEVERITY.get(it.severity, (it.severity, it.severity)), lang)
        lines.append(f"- {_t(_LABELS['severity'], lang)}: {sev}")
        lines.append(f"- {_t(_LABELS['scope'], lang)}: {it.scope}")
        lines.append(f"- {_t(_LABELS['code'], lang)}: {it.code}")
        lines.append(f"- {_t(_LABELS['opened'], lang)}: {it.opened_at}")
        if it.by and msg.kind in ("ack", "resolve", "assign", "reopen"):
            lines.append(f"- {_t(_LABELS['by'], lang)}: {it.by}")
        if it.steps and msg.kind in ("open", "escalate", "sla"):
            lines.append("")
            lines.append(f"**{_t(_LABELS['steps'], lang)}**")
            lines.extend(f"{n}. {s}" for n, s in enumerate(it.steps, start=1))
        lines.append("")
        lines.append(f"[{_t(_LABELS['link'], lang)} #{it.incident_id}]({it.link})")
        lines.append("")
    if msg.more:
        lines.append(_t(_LABELS["more"], lang).format(n=msg.more))
    return "\n".join(lines).rstrip() + "\n"


def plain_text(msg: Message) -> str:
    """The message as plain text (the e-mail body)."""
    text = markdown(msg, heading="")
    return text.replace("**", "")
