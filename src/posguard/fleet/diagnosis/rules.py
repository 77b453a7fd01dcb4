"""Diagnosis rules as data: YAML files, validated, with kinds named by short registered names.

A rule file holds ``rules: [...]``. A rule names its ``kind`` (``simple``, ``duration``,
``repeating``, ``absence``, ``correlation``), a ``create`` and a ``clear`` condition, the
catalog ``code`` its incidents carry, and optional ``actions`` (remote commands to issue when
an incident opens). Nothing in a rule file can name code to import.

>>> rs = parse_rules([{"id": "mac-burst", "kind": "repeating", "code": "NET.CONNECT_REFUSED",
...     "create": {"match": {"kind": "fault", "code": "NET.CONNECT_REFUSED"},
...                "count": 3, "within_s": 120},
...     "clear": {"quiet_s": 300}}], source="doc")
>>> rs[0].create.count
3
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from posguard.catalog.model import CODE_PATTERN, Category, Entry
from posguard.common.commands import COMMAND_NAMES
from posguard.common.errors import ConfigError
from posguard.common.validation import first_error

RULES_DIR = Path(str(files("posguard.fleet") / "rules"))


class RuleError(ConfigError):
    """A diagnosis rule file failed validation; says file, rule and field."""


class RuleKind(StrEnum):
    SIMPLE = "simple"
    DURATION = "duration"
    REPEATING = "repeating"
    ABSENCE = "absence"
    CORRELATION = "correlation"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Match(_Frozen):
    """Which events count: by kind, by catalog code, by catalog category (all given must hold)."""

    kind: str | None = None
    code: str | None = Field(None, pattern=CODE_PATTERN)
    category: Category | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if self.kind is None and self.code is None and self.category is None:
            raise ValueError("a match needs at least one of kind, code, category")
        return self


class Condition(_Frozen):
    match: Match | None = None
    count: int = Field(1, ge=1, le=10_000)
    within_s: float | None = Field(None, gt=0, le=86_400)
    for_s: float | None = Field(None, gt=0, le=7 * 86_400)
    quiet_s: float | None = Field(None, gt=0, le=7 * 86_400)
    # absence: how many heartbeat intervals without a matching event
    intervals: int | None = Field(None, ge=1, le=100)
    # absence: how long a terminal may stay silent after announcing a reboot or an update
    expected_gap_s: float | None = Field(None, gt=0, le=86_400)
    # correlation
    threshold_pct: float | None = Field(None, gt=0, le=100)
    min_terminals: int = Field(3, ge=1)
    group_by: tuple[Literal["acquirer_host", "area", "model", "issuer"], ...] = ()
    # correlation: dimensions where every terminal of a group failing (each at least ``count``
    # times) opens the group incident whatever the group's size (a host only two terminals use)
    whole_group: tuple[Literal["acquirer_host", "area", "model"], ...] = ()


class Command(_Frozen):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Command:
        if self.name not in COMMAND_NAMES:
            raise ValueError(f"unknown command {self.name!r}; one of {sorted(COMMAND_NAMES)}")
        return self


class Rule(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,63}$")
    kind: RuleKind
    code: str = Field(pattern=CODE_PATTERN)
    description: str = ""
    create: Condition
    clear: Condition
    actions: tuple[Command, ...] = ()
    # correlation: the catalog code of a group incident by dimension (default: ``code``)
    code_by_group: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        c, k = self.create, self.kind
        needs: dict[RuleKind, tuple[str, ...]] = {
            RuleKind.SIMPLE: ("match",),
            RuleKind.DURATION: ("match", "for_s"),
            RuleKind.REPEATING: ("match", "within_s"),
            RuleKind.ABSENCE: ("match", "intervals"),
            RuleKind.CORRELATION: ("match", "within_s", "threshold_pct", "group_by"),
        }
        for name in needs[k]:
            if not getattr(c, name):
                raise ValueError(f"a {k.value} rule's create condition needs {name}")
        for dim, code in self.code_by_group.items():
            if dim not in c.group_by:
                raise ValueError(f"code_by_group names {dim!r}, which is not in group_by")
            if not re.fullmatch(CODE_PATTERN, code):
                raise ValueError(f"code_by_group[{dim}]: {code!r} is not a catalog code")
        if not set(c.whole_group) <= set(c.group_by):
            raise ValueError("whole_group must be a subset of group_by")
        if k is RuleKind.REPEATING and c.count < 2:
            raise ValueError("a repeating rule needs count >= 2")
        if k is not RuleKind.ABSENCE and self.clear.match is None and self.clear.quiet_s is None:
            raise ValueError("the clear condition needs a match or quiet_s")
        return self


def parse_rules(raw: Sequence[Any], *, source: str) -> list[Rule]:
    out: list[Rule] = []
    for i, item in enumerate(raw, start=1):
        rid = item.get("id", "?") if isinstance(item, dict) else "?"
        try:
            out.append(Rule.model_validate(item))
        except ValidationError as exc:
            where, msg = first_error(exc, "(rule)")
            raise RuleError(
                f"{source}: rule {i} ({rid}): field '{where}': {msg}", file=source
            ) from exc
    return out


def load_rules(directory: Path | None = None, *, catalog: Mapping[str, Entry]) -> list[Rule]:
    """Every rule in ``directory/*.yaml`` (default: shipped rules), checked against ``catalog``."""
    directory = directory or RULES_DIR
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RuleError(f"no rule files (*.yaml) in {directory}")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RuleError(f"{path.name}: cannot read rules: {exc}", file=str(path)) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
            raise RuleError(f"{path.name}: must be a mapping with a 'rules' list", file=str(path))
        for rule in parse_rules(doc["rules"], source=path.name):
            if rule.id in seen:
                raise RuleError(f"{path.name}: rule {rule.id}: already defined in {seen[rule.id]}")
            seen[rule.id] = path.name
            codes = [rule.code, *rule.code_by_group.values()] + [
                m.code for m in (rule.create.match, rule.clear.match) if m and m.code
            ]
            for code in codes:
                if code not in catalog:
                    raise RuleError(
                        f"{path.name}: rule {rule.id}: code {code} is not in the catalog"
                    )
            rules.append(rule)
    return rules
