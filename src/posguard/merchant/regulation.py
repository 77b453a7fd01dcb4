"""Terminal models the rules no longer permit, and certifications that have expired.

Each terminal of the fleet is matched to its model in a data file
(``data/terminal_models.yaml``) and flagged:

* ``REG.MODEL_NOT_PERMITTED``: the model is no longer admitted (critical);
* ``REG.CERTIFICATE_EXPIRED``: its PCI PTS approval or the acquirer's certification has
  expired (major), or expires within ``warn_days`` (minor, ``kind=certificate_expiring``).

A PCI PTS expiry comes from the model entry, else from its major version's published date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from posguard.catalog.model import Severity
from posguard.merchant.findings import CERTIFICATE_EXPIRED, MODEL_NOT_PERMITTED, Finding
from posguard.merchant.fleet_records import FleetTerminal
from posguard.merchant.text import Text, t
from posguard.merchant.yamlio import load_model

DATA_FILE = Path(str(files("posguard.merchant") / "data" / "terminal_models.yaml"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PciPts(_Frozen):
    version: str = Field(pattern=r"^[0-9]+\.x$")
    reference: str
    expires: date | None = None


class AcquirerCert(_Frozen):
    reference: str
    expires: date


class NotPermitted(_Frozen):
    since: date
    reason: Text


class ModelEntry(_Frozen):
    brand: str
    model: str
    pci_pts: PciPts | None = None
    acquirer: AcquirerCert | None = None
    not_permitted: NotPermitted | None = None


class ModelRegistry(_Frozen):
    pci_pts_version_expiry: dict[str, date] = Field(default_factory=dict)
    models: tuple[ModelEntry, ...]

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for m in self.models:
            key = (m.brand.casefold(), m.model.casefold())
            if key in seen:
                raise ValueError(f"model {m.brand} {m.model} listed twice")
            seen.add(key)
        return self

    def find(self, brand: str, model: str) -> ModelEntry | None:
        key = (brand.casefold(), model.casefold())
        return next(
            (m for m in self.models if (m.brand.casefold(), m.model.casefold()) == key), None
        )

    def pci_expiry(self, entry: ModelEntry) -> date | None:
        if entry.pci_pts is None:
            return None
        if entry.pci_pts.expires is not None:
            return entry.pci_pts.expires
        return self.pci_pts_version_expiry.get(entry.pci_pts.version.split(".")[0])


@cache
def default_registry() -> ModelRegistry:
    return load_registry(DATA_FILE)


def load_registry(path: Path) -> ModelRegistry:
    return load_model(ModelRegistry, path)


@dataclass(frozen=True, slots=True)
class RegulationReport:
    as_of: date
    checked: int
    findings: tuple[Finding, ...]
    unknown_models: tuple[str, ...]  # terminal ids whose model is not in the list


@dataclass(frozen=True, slots=True)
class FlagGroup:
    """The terminals that share one flag (same code, model and date), for a short report."""

    first: Finding
    terminal_ids: tuple[str, ...]


def group_findings(findings: Sequence[Finding]) -> list[FlagGroup]:
    """Group per-terminal findings by (code, kind, title): one line per model and date.

    Most severe first, then by title."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.code, f.kind, f.title.en), []).append(f)
    out = [FlagGroup(fs[0], tuple(f.subject for f in fs)) for fs in groups.values()]
    out.sort(key=lambda g: (-g.first.severity.rank, g.first.title.en))
    return out


def _not_permitted(term: FleetTerminal, entry: ModelEntry, np: NotPermitted) -> Finding:
    return Finding(
        code=MODEL_NOT_PERMITTED,
        kind="model_not_permitted",
        severity=Severity.CRITICAL,
        subject=term.terminal_id,
        title=t(
            f"终端型号{entry.brand} {entry.model}已不允许使用",
            f"Terminal model {entry.brand} {entry.model} is no longer permitted",
        ),
        detail=t(
            f"自{np.since}起不再允许：{np.reason.zh}",
            f"Not permitted since {np.since}: {np.reason.en}",
        ),
        action=t(
            "请立即联系收单机构更换为准入型号，更换前不要再用它收款；不要购买该型号的二手机。",
            "Call the acquirer for a replacement with an admitted model now and stop taking "
            "payments on it until then; do not buy second-hand units of this model.",
        ),
        since=np.since,
    )


def _cert(
    term: FleetTerminal, entry: ModelEntry, which: str, expires: date, as_of: date, reference: str
) -> Finding:
    expired = expires < as_of
    if which == "pci_pts":
        name = t("PCI PTS安全认证", "PCI PTS approval")
        todo = t(
            "该型号已不能新增布放；在用机具按收单机构规定可继续使用，请在下次换机时更换为有效认证型号。",
            "No new units of this model may be deployed; units in service may stay as the "
            "acquirer's rules allow: replace them at the next refresh with a currently "
            "approved model.",
        )
    else:
        name = t("收单机构入网认证", "acquirer certification")
        todo = t(
            "请向收单机构确认该型号认证是否已续期；未续期请安排换机。",
            "Ask the acquirer whether the model's certification was renewed; if not, plan "
            "a replacement.",
        )
    verb_zh, verb_en = ("已于", "expired on") if expired else ("将于", "expires on")
    tail_zh = "过期" if expired else "到期"
    return Finding(
        code=CERTIFICATE_EXPIRED,
        kind="certificate_expired" if expired else "certificate_expiring",
        severity=Severity.MAJOR if expired else Severity.MINOR,
        subject=term.terminal_id,
        title=t(
            f"{entry.brand} {entry.model}的{name.zh}{verb_zh}{expires}{tail_zh}",
            f"{name.en[:1].upper()}{name.en[1:]} of {entry.brand} {entry.model} {verb_en} "
            f"{expires}",
        ),
        detail=t(
            f"终端{term.terminal_id}（{entry.brand} {entry.model}）的{name.zh}（{reference}）"
            f"{verb_zh}{expires}{tail_zh}。",
            f"Terminal {term.terminal_id} ({entry.brand} {entry.model}): {name.en} "
            f"({reference}) {verb_en} {expires}.",
        ),
        action=todo,
        since=expires,
    )


def check_terminals(
    terminals: Sequence[FleetTerminal],
    *,
    as_of: date,
    registry: ModelRegistry | None = None,
    warn_days: int = 90,
) -> RegulationReport:
    """Flag every terminal whose model is not permitted or whose certificates lapsed."""
    registry = registry or default_registry()
    warn = timedelta(days=warn_days)
    findings: list[Finding] = []
    unknown: list[str] = []
    for term in terminals:
        entry = registry.find(term.brand, term.model)
        if entry is None:
            unknown.append(term.terminal_id)
            continue
        if entry.not_permitted is not None and entry.not_permitted.since <= as_of:
            findings.append(_not_permitted(term, entry, entry.not_permitted))
            continue
        certs: list[tuple[str, date | None, str]] = [
            (
                "pci_pts",
                registry.pci_expiry(entry),
                entry.pci_pts.reference if entry.pci_pts else "",
            ),
            (
                "acquirer",
                entry.acquirer.expires if entry.acquirer else None,
                entry.acquirer.reference if entry.acquirer else "",
            ),
        ]
        for which, expires, reference in certs:
            if expires is not None and expires - as_of <= warn:
                findings.append(_cert(term, entry, which, expires, as_of, reference))
    return RegulationReport(as_of, len(terminals), tuple(findings), tuple(unknown))
