"""Which recipients an incident transition goes to: routes matched by severity, scope
(terminal, merchant, host, area, model, issuer), category, code and who must act.

Pure: the caller passes the incident's placement and its catalog entry.

>>> from posguard.fleet.notify.config import parse_config
>>> cfg = parse_config({"channels": [{"id": "ops", "type": "webhook", "url": "http://x/",
...     "secret": {"env": "S"}}], "routes": [{"id": "big", "match": {"severity_at_least":
...     "major", "hosts": ["acq-*"]}, "notify": [{"channel": "ops"}]}]}, source="t")
>>> inc = Subject(code="NET.HOST_UNREACHABLE", severity="critical", scope="host:acq-east",
...     terminal_id=None, merchant_id=None, host="acq-east", area=None, entry=None)
>>> [(r.route_id, r.channel, r.level) for r in recipients(cfg, inc, "open")]
[('big', 'ops', 0)]
>>> recipients(cfg, inc, "ack")
[]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from posguard.catalog.model import Audience, Entry, Severity
from posguard.fleet.notify.config import Match, NotifyConfig, Route, Target
from posguard.fleet.notify.merchant_contacts import StoredContact

NO_CONTACTS: Mapping[str, Sequence[StoredContact]] = {}


@dataclass(frozen=True, slots=True)
class Subject:
    """An incident as routing sees it."""

    code: str
    severity: str
    scope: str
    terminal_id: str | None
    merchant_id: str | None
    host: str | None  # the terminal's acquirer host, or the host of a host-wide incident
    area: str | None
    entry: Entry | None

    @property
    def scope_kind(self) -> str:
        return self.scope.partition(":")[0]

    @property
    def scope_value(self) -> str:
        return self.scope.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Recipient:
    route_id: str
    level: int  # 0: the route's notify; n: escalation level n
    channel: str
    recipient: str  # an e-mail address, or "" for a robot / webhook channel
    lang: str
    audience: str  # ops | merchant: which steps the message carries
    hold_s: float


def _any(patterns: Sequence[str], value: str | None) -> bool:
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


def matches(m: Match, s: Subject) -> bool:
    entry = s.entry
    if m.severity_at_least is not None:
        if s.severity not in Severity.__members__.values():
            return False
        if Severity(s.severity).rank < m.severity_at_least.rank:
            return False
    if m.categories and (entry is None or entry.category not in m.categories):
        return False
    if m.codes and not _any(m.codes, s.code):
        return False
    if m.audience and (entry is None or not set(m.audience) & set(entry.audience)):
        return False
    if m.scope_kinds and s.scope_kind not in m.scope_kinds:
        return False
    checks = (
        (m.terminals, s.terminal_id),
        (m.merchants, s.merchant_id),
        (m.hosts, s.host),
        (m.areas, s.area if s.area is not None else _scoped(s, "area")),
        (m.issuers, _scoped(s, "issuer")),
    )
    return all(not patterns or _any(patterns, value) for patterns, value in checks)


def _scoped(s: Subject, kind: str) -> str | None:
    return s.scope_value if s.scope_kind == kind else None


def _targets(route: Route, targets: Sequence[Target], level: int) -> list[Recipient]:
    out: list[Recipient] = []
    for t in targets:
        lang = t.lang or route.lang
        for to in t.to or ("",):
            out.append(Recipient(route.id, level, t.channel, to, lang, "ops", route.hold_s))
    return out


def recipients(
    cfg: NotifyConfig,
    s: Subject,
    kind: str,
    contacts: Mapping[str, Sequence[StoredContact]] = NO_CONTACTS,
) -> list[Recipient]:
    """Everyone the ``kind`` (open, ack, resolve, assign, reopen) transition of ``s`` goes
    to, once each (the first route naming a channel and recipient wins). ``contacts``: the
    merchants' stored contacts (``merchant_contacts.lookup``), by merchant id."""
    out: list[Recipient] = []
    for route in cfg.routes:
        if not matches(route.match, s):
            continue
        if kind not in route.send_on:
            continue
        out.extend(_targets(route, route.notify, 0))
        if kind in ("ack", "resolve"):  # those who were escalated to hear the end too
            for n, lv in enumerate(route.escalate, start=1):
                out.extend(_targets(route, lv.notify, n))
        if route.notify_merchant and kind != "assign":  # who works on it is internal
            out.extend(_merchant(cfg, route, s, contacts))
    return _unique(out)


def _unique(out: Sequence[Recipient]) -> list[Recipient]:
    seen: set[tuple[int, str, str]] = set()
    unique: list[Recipient] = []
    for r in out:
        if (r.level, r.channel, r.recipient) not in seen:
            seen.add((r.level, r.channel, r.recipient))
            unique.append(r)
    return unique


def _merchant(
    cfg: NotifyConfig,
    route: Route,
    s: Subject,
    contacts: Mapping[str, Sequence[StoredContact]],
) -> list[Recipient]:
    """The merchant's own contacts, each in its language, when the catalog says the merchant
    acts: those stored by the administration page (on channels the config has), else the
    config's ``merchants`` entry."""
    if s.merchant_id is None or s.entry is None or Audience.MERCHANT not in s.entry.audience:
        return []
    stored = [c for c in contacts.get(s.merchant_id, ()) if c.channel in cfg.channels]
    if stored:
        return [
            Recipient(route.id, 0, c.channel, c.address, c.lang, "merchant", route.hold_s)
            for c in stored
        ]
    contact = cfg.merchants.get(s.merchant_id)
    if contact is None:
        return []
    return [
        Recipient(route.id, 0, contact.channel, to, contact.lang, "merchant", route.hold_s)
        for to in contact.to or ("",)
    ]


def escalations_due(cfg: NotifyConfig, s: Subject, *, minutes_open: float) -> list[Recipient]:
    """The escalation targets of every matching route whose level is due after
    ``minutes_open`` minutes without acknowledgement (level n: transition ``escalate:n``)."""
    out: list[Recipient] = []
    for route in cfg.routes:
        if not matches(route.match, s):
            continue
        for n, lv in enumerate(route.escalate, start=1):
            if minutes_open >= lv.after_min:
                out.extend(_targets(route, lv.notify, n))
    return _unique(out)


def first_escalation_min(cfg: NotifyConfig) -> float | None:
    """The earliest escalation of any route (incidents younger than this are not scanned)."""
    first = [r.escalate[0].after_min for r in cfg.routes if r.escalate]
    return min(first) if first else None


def sla_breach_targets(cfg: NotifyConfig, s: Subject) -> list[Recipient]:
    """Who hears an SLA breach of ``s``: of each matching route with ``sla_breach``, its last
    escalation level, or its own targets when it has no levels."""
    out: list[Recipient] = []
    for route in cfg.routes:
        if not route.sla_breach or not matches(route.match, s):
            continue
        if route.escalate:
            out.extend(_targets(route, route.escalate[-1].notify, len(route.escalate)))
        else:
            out.extend(_targets(route, route.notify, 0))
    return _unique(out)
