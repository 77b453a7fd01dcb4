"""Notification channels, routes and merchant contacts as data (one YAML file), validated
with pydantic; an error names the file, the section, the entry and the field.

>>> cfg = parse_config({
...     "channels": [{"id": "ops", "type": "webhook", "url": "http://127.0.0.1:9/h",
...                   "secret": {"env": "HOOK_SECRET"}}],
...     "routes": [{"id": "all", "notify": [{"channel": "ops"}]}],
... }, source="notify.yaml")
>>> cfg.channels["ops"].type, cfg.routes[0].match.severity_at_least
('webhook', None)
>>> parse_config({"channels": [{"id": "x", "type": "fax"}]}, source="n.yaml")
Traceback (most recent call last):
...
posguard.fleet.notify.config.NotifyConfigError: n.yaml: channels entry 1 (x): field 'type': ...
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from posguard.catalog.model import Audience, Category, Severity
from posguard.common.errors import ConfigError
from posguard.common.validation import field_path, first_error
from posguard.fleet.notify.secrets import SecretRef

ID = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Lang = Literal["zh", "en"]


class NotifyConfigError(ConfigError):
    """The notification configuration failed validation; says file, entry and field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Transition(StrEnum):
    """What happened to an incident that a message is about."""

    OPEN = "open"
    ESCALATE = "escalate"  # stored as escalate:<level>
    ACK = "ack"
    RESOLVE = "resolve"
    ASSIGN = "assign"  # stored as assign:<audit entry id>
    REOPEN = "reopen"  # stored as reopen:<audit entry id>
    SLA = "sla"  # stored as sla:ack or sla:resolve (fleet.notify.sla_breach)


class TlsMode(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


class _Channel(_Frozen):
    id: ID
    # messages per minute on this channel (a storm digest counts as one); None: no limit
    rate_per_min: int | None = Field(None, ge=1, le=10_000)
    timeout_s: float = Field(10.0, gt=0, le=120)


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65_535)
    tls: TlsMode = TlsMode.STARTTLS
    username: str | None = None
    password: SecretRef | None = None
    sender: str = Field(min_length=3, max_length=320)
    ca_file: Path | None = None  # trust this CA (PEM) instead of the system store


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", max_length=2000)
    secret: SecretRef


class DingTalkChannel(_Channel):
    type: Literal["dingtalk"]
    url: str = Field("https://oapi.dingtalk.com/robot/send", pattern=r"^https?://")
    token: SecretRef  # the robot's access_token
    secret: SecretRef  # the "加签" secret (SEC...)
    at_mobiles: tuple[str, ...] = ()
    rate_per_min: int | None = Field(20, ge=1, le=10_000)  # the robot's documented limit


class WeComChannel(_Channel):
    type: Literal["wecom"]
    url: str = Field("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", pattern=r"^https?://")
    key: SecretRef  # the robot's key
    rate_per_min: int | None = Field(20, ge=1, le=10_000)


class FeishuChannel(_Channel):
    type: Literal["feishu"]
    # Lark: https://open.larksuite.com/open-apis/bot/v2/hook
    url: str = Field("https://open.feishu.cn/open-apis/bot/v2/hook", pattern=r"^https?://")
    token: SecretRef  # the hook id at the end of the webhook address
    secret: SecretRef | None = None  # "签名校验" secret
    rate_per_min: int | None = Field(100, ge=1, le=10_000)


Channel = Annotated[
    EmailChannel | WebhookChannel | DingTalkChannel | WeComChannel | FeishuChannel,
    Field(discriminator="type"),
]


class Target(_Frozen):
    """One destination: a channel and, for e-mail, the addresses."""

    channel: ID
    to: tuple[Annotated[str, Field(min_length=3, max_length=320)], ...] = ()
    lang: Lang | None = None  # default: the route's


class Match(_Frozen):
    """Which incidents a route takes; every given field must match (lists: any of them).
    Id lists accept shell-style patterns (``acq-*``)."""

    severity_at_least: Severity | None = None
    categories: tuple[Category, ...] = ()
    codes: tuple[str, ...] = ()
    audience: tuple[Audience, ...] = ()  # who must act, from the catalog entry
    scope_kinds: tuple[Literal["terminal", "host", "area", "model", "issuer"], ...] = ()
    terminals: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()


class EscalationLevel(_Frozen):
    after_min: float = Field(gt=0, le=7 * 24 * 60)
    notify: tuple[Target, ...] = Field(min_length=1)


class Route(_Frozen):
    id: ID
    match: Match = Match()
    notify: tuple[Target, ...] = ()
    # the merchant's own contact (merchants section) gets the merchant-facing steps
    notify_merchant: bool = False
    # which transitions the route announces ("on" would read as a YAML boolean key)
    # (assign and reopen: the incident workflow's, fleet/incident_actions.py)
    send_on: tuple[Literal["open", "ack", "resolve", "assign", "reopen"], ...] = (
        "open",
        "resolve",
    )
    lang: Lang = "zh"
    escalate: tuple[EscalationLevel, ...] = ()
    # tell the last escalation level (or notify, without levels) when an incident passes its
    # severity's SLA target (fleet.incident_policy): transitions sla:ack / sla:resolve
    sla_breach: bool = False
    # hold an open message this long, so a storm is grouped and a flap that clears at once
    # sends nothing (like Alertmanager's group_wait)
    hold_s: float = Field(30.0, ge=0, le=3600)

    @field_validator("escalate")
    @classmethod
    def _increasing(cls, levels: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        after = [lv.after_min for lv in levels]
        if after != sorted(set(after)):
            raise ValueError("escalation levels must have strictly increasing after_min")
        return levels


class MerchantContact(_Frozen):
    channel: ID
    to: tuple[Annotated[str, Field(min_length=3, max_length=320)], ...] = ()
    lang: Lang = "zh"


class Delivery(_Frozen):
    """How the outbox is worked."""

    max_attempts: int = Field(8, ge=1, le=50)
    backoff_s: float = Field(30.0, gt=0, le=3600)  # doubles per attempt
    backoff_max_s: float = Field(3600.0, gt=0, le=86_400)
    lease_s: float = Field(120.0, ge=5, le=3600)  # a claimed row is retaken after this
    batch: int = Field(200, ge=1, le=5000)
    digest_max_items: int = Field(20, ge=1, le=200)


class NotifyConfig(_Frozen):
    channels: Mapping[str, Channel]
    routes: tuple[Route, ...]
    merchants: Mapping[str, MerchantContact]
    delivery: Delivery = Delivery()
    public_url: str = "http://127.0.0.1:8080"  # links point to {public_url}/ui/incidents/{id}


_TYPES = ("email", "webhook", "dingtalk", "wecom", "feishu")


def _where(exc: ValidationError, top: str) -> tuple[str, str]:
    """The field path without the channel-type tag pydantic puts first in a union's errors."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    if loc and loc[0] in _TYPES:
        loc = loc[1:]
    if not loc and err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "type", f"must be one of {', '.join(_TYPES)}"
    return field_path(loc, top), err["msg"]


def _entries(raw: Any, section: str, model: TypeAdapter[Any], source: str) -> list[tuple[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise NotifyConfigError(f"{source}: '{section}' must be a list")
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, start=1):
        name = str(item.get("id", "?")) if isinstance(item, dict) else "?"
        try:
            value = model.validate_python(item)
        except ValidationError as exc:
            where, msg = _where(exc, f"({section[:-1]})")
            raise NotifyConfigError(
                f"{source}: {section} entry {i} ({name}): field '{where}': {msg}"
            ) from exc
        if name in seen:
            raise NotifyConfigError(f"{source}: {section} entry {i} ({name}): id repeats")
        seen.add(name)
        out.append((name, value))
    return out


def parse_config(doc: Any, *, source: str) -> NotifyConfig:
    """Validate a loaded YAML document; targets must name known channels."""
    if not isinstance(doc, dict):
        raise NotifyConfigError(f"{source}: must be a mapping with 'channels' and 'routes'")
    unknown = set(doc) - {"channels", "routes", "merchants", "delivery", "public_url"}
    if unknown:
        raise NotifyConfigError(f"{source}: unknown section(s) {sorted(unknown)}")
    channels = dict(_entries(doc.get("channels"), "channels", TypeAdapter(Channel), source))
    routes = [r for _, r in _entries(doc.get("routes"), "routes", TypeAdapter(Route), source)]
    merchants_raw = doc.get("merchants") or {}
    if not isinstance(merchants_raw, dict):
        raise NotifyConfigError(f"{source}: 'merchants' must map merchant id -> contact")
    merchants: dict[str, MerchantContact] = {}
    for mid, item in merchants_raw.items():
        try:
            merchants[str(mid)] = MerchantContact.model_validate(item)
        except ValidationError as exc:
            where, msg = first_error(exc, "(contact)")
            raise NotifyConfigError(
                f"{source}: merchants entry {mid}: field '{where}': {msg}"
            ) from exc
    try:
        delivery = Delivery.model_validate(doc.get("delivery") or {})
    except ValidationError as exc:
        where, msg = first_error(exc, "(delivery)")
        raise NotifyConfigError(f"{source}: delivery: field '{where}': {msg}") from exc
    for i, route in enumerate(routes, start=1):
        targets = list(route.notify) + [t for lv in route.escalate for t in lv.notify]
        for t in targets:
            _check_target(t.channel, t.to, channels, f"{source}: routes entry {i} ({route.id})")
        if route.sla_breach and not route.notify and not route.escalate:
            raise NotifyConfigError(
                f"{source}: routes entry {i} ({route.id}): sla_breach needs notify or escalate"
            )
        if not route.notify and not route.notify_merchant and not route.escalate:
            raise NotifyConfigError(
                f"{source}: routes entry {i} ({route.id}): notifies no one "
                "(give notify, notify_merchant or escalate)"
            )
    for mid, contact in merchants.items():
        _check_target(contact.channel, contact.to, channels, f"{source}: merchants entry {mid}")
    public_url = str(doc.get("public_url") or "http://127.0.0.1:8080").rstrip("/")
    return NotifyConfig(
        channels=channels,
        routes=tuple(routes),
        merchants=merchants,
        delivery=delivery,
        public_url=public_url,
    )


def _check_target(
    channel: str, to: tuple[str, ...], channels: Mapping[str, Any], where: str
) -> None:
    if channel not in channels:
        raise NotifyConfigError(f"{where}: field 'channel': unknown channel {channel!r}")
    is_mail = channels[channel].type == "email"
    if is_mail and not to:
        raise NotifyConfigError(f"{where}: field 'to': an e-mail target needs addresses")
    if not is_mail and to:
        raise NotifyConfigError(f"{where}: field 'to': only e-mail targets take addresses")


def load_config(path: Path) -> NotifyConfig:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise NotifyConfigError(f"{path.name}: cannot read: {exc}") from exc
    return parse_config(doc, source=path.name)
