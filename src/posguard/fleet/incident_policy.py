"""The incident workflow's data: resolution reasons (zh/en labels), the teams an incident can
be assigned to, and the per-severity SLA targets (time to acknowledge, time to resolve).

Defaults are declared here once; a YAML file (``POSGUARD_FLEET_INCIDENT_POLICY``) may replace
the teams and any SLA target. An error names the file and the field.

>>> p = parse_policy({"sla": {"critical": {"ack_min": 5}}, "teams": [
...     {"id": "field-east", "name": {"zh": "华东现场", "en": "Field East"}}]}, source="p.yaml")
>>> p.sla["critical"].ack_min, p.sla["critical"].resolve_min, p.sla["minor"].ack_min
(5.0, 240.0, 120.0)
>>> [t.id for t in p.teams]
['field-east']
>>> parse_policy({"sla": {"huge": {"ack_min": 1}}}, source="p.yaml")
Traceback (most recent call last):
...
posguard.fleet.incident_policy.PolicyError: p.yaml: sla: unknown severity 'huge' ...
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from posguard.catalog.model import Severity
from posguard.common.errors import ConfigError
from posguard.common.validation import first_error

RESOLUTION_REASONS: Mapping[str, tuple[str, str]] = {
    # id: (zh, en)
    "fixed_on_site": ("现场修复", "Fixed on site"),
    "replaced_hardware": ("更换硬件", "Replaced hardware"),
    "host_side_fix": ("主机侧修复", "Fixed on the host side"),
    "network_provider_fix": ("网络运营商修复", "Fixed by the network provider"),
    "config_corrected": ("配置已更正", "Configuration corrected"),
    "false_alarm": ("误报", "False alarm"),
    "duplicate": ("重复工单", "Duplicate"),
    "other": ("其他", "Other"),
}
"""Why an incident was resolved by hand: the one list the API, the dashboard and the audit
log use. ``other`` needs a free text."""


def reason_label(reason: str, lang: str) -> str:
    """The reason's label in ``lang`` (zh or en); the id itself when unknown.

    >>> reason_label("false_alarm", "zh"), reason_label("false_alarm", "en-US")
    ('误报', 'False alarm')
    """
    pair = RESOLUTION_REASONS.get(reason)
    if pair is None:
        return reason
    return pair[0] if lang.lower().startswith("zh") else pair[1]


DEFAULT_SLA_MIN: Mapping[str, tuple[float, float]] = {
    # severity: (time to acknowledge, time to resolve), minutes
    "critical": (15.0, 240.0),
    "major": (30.0, 480.0),
    "minor": (120.0, 1440.0),
    "info": (480.0, 4320.0),
}


class PolicyError(ConfigError):
    """The incident policy file failed validation; says file and field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlaTarget(_Frozen):
    ack_min: float = Field(gt=0, le=30 * 24 * 60)
    resolve_min: float = Field(gt=0, le=90 * 24 * 60)


class TeamName(_Frozen):
    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)


class Team(_Frozen):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    name: TeamName


DEFAULT_TEAMS: tuple[Team, ...] = (
    Team(id="field-service", name=TeamName(zh="现场服务组", en="Field service")),
    Team(id="host-ops", name=TeamName(zh="主机运维组", en="Host operations")),
    Team(id="network", name=TeamName(zh="网络组", en="Network")),
)


class IncidentPolicy(_Frozen):
    sla: Mapping[str, SlaTarget]
    teams: tuple[Team, ...]

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)


def default_policy() -> IncidentPolicy:
    return IncidentPolicy(
        sla={s: SlaTarget(ack_min=a, resolve_min=r) for s, (a, r) in DEFAULT_SLA_MIN.items()},
        teams=DEFAULT_TEAMS,
    )


def parse_policy(doc: Any, *, source: str) -> IncidentPolicy:
    """Validate a loaded YAML document over the defaults (an SLA entry may give one target)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}: must be a mapping with 'sla' and/or 'teams'")
    unknown = set(doc) - {"sla", "teams"}
    if unknown:
        raise PolicyError(f"{source}: unknown section(s) {sorted(unknown)}")
    base = default_policy()
    sla = dict(base.sla)
    raw_sla = doc.get("sla") or {}
    if not isinstance(raw_sla, dict):
        raise PolicyError(f"{source}: sla: must map severity -> {{ack_min, resolve_min}}")
    severities = [s.value for s in Severity]
    for sev, item in raw_sla.items():
        if sev not in severities:
            raise PolicyError(f"{source}: sla: unknown severity {sev!r} (one of {severities})")
        if not isinstance(item, dict):
            raise PolicyError(f"{source}: sla.{sev}: must be a mapping")
        try:
            sla[sev] = SlaTarget.model_validate({**sla[sev].model_dump(), **item})
        except ValidationError as exc:
            where, msg = first_error(exc)
            raise PolicyError(f"{source}: sla.{sev}: field '{where}': {msg}") from exc
    teams = base.teams
    if "teams" in doc:
        raw_teams = doc["teams"] or []
        if not isinstance(raw_teams, list):
            raise PolicyError(f"{source}: teams: must be a list")
        parsed: list[Team] = []
        for i, item in enumerate(raw_teams, start=1):
            try:
                team = Team.model_validate(item)
            except ValidationError as exc:
                where, msg = first_error(exc)
                raise PolicyError(f"{source}: teams entry {i}: field '{where}': {msg}") from exc
            if any(t.id == team.id for t in parsed):
                raise PolicyError(f"{source}: teams entry {i} ({team.id}): id repeats")
            parsed.append(team)
        teams = tuple(parsed)
    return IncidentPolicy(sla=sla, teams=teams)


def load_policy(path: Path) -> IncidentPolicy:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path.name}: cannot read: {exc}") from exc
    return parse_policy(doc, source=path.name)


class PolicySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSGUARD_FLEET_INCIDENT_", extra="ignore")

    policy: Path | None = None  # POSGUARD_FLEET_INCIDENT_POLICY; None: the defaults


@cache
def _policy_at(path: Path | None) -> IncidentPolicy:
    return default_policy() if path is None else load_policy(path)


def get_policy() -> IncidentPolicy:
    """The process's policy (the file named by ``POSGUARD_FLEET_INCIDENT_POLICY``, read once)."""
    return _policy_at(PolicySettings().policy)
