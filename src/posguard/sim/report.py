"""The demo's report: what was injected, how each fault ended (handled by the terminals on
their own, or turned into a fleet incident), reversals, incidents, reconciliation of the host
ledger against every terminal journal, and a scan proving no clear card number was written
to the fleet's database or the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from posguard.sim.fleet_embed import IncidentView
from posguard.sim.inject import Played
from posguard.sim.timeline import FaultKind

_NETWORK = frozenset(
    {
        FaultKind.HOST_OUTAGE,
        FaultKind.FIREWALL_CHANGE,
        FaultKind.CONNECTION_REFUSED,
        FaultKind.RESPONSE_DROP,
    }
)


# the fleet-wide incident a fault becomes carries its own catalog code
_GROUP_CODES: dict[FaultKind, tuple[str, ...]] = {FaultKind.ISSUER_OUTAGE: ("TXN.ISSUER_OUTAGE",)}


@dataclass
class FaultVerdict:
    fault: str
    code: str
    at_s: float
    for_s: float | None
    note: str
    terminals: list[str]
    handled: bool  # the terminals dealt with it on their own
    how: str
    incidents: list[int]  # fleet incidents opened for it
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def accounted(self) -> bool:
        """Handled automatically, or turned into an incident (or both)."""
        return self.handled or bool(self.incidents)


def _related(p: Played, incidents: Sequence[IncidentView], t0: float, grace: float) -> list[int]:
    """Incidents whose code belongs to this fault and that opened while it was in play."""
    kind = p.event.fault

    def want(code: str) -> bool:
        if kind in _NETWORK:
            return code.startswith("NET.")
        return code == kind.code or code in _GROUP_CODES.get(kind, ())

    lo = t0 + p.started
    hi = t0 + (p.ended if p.ended is not None else p.started) + grace
    return [i.id for i in incidents if want(i.code) and lo - 1.0 <= i.opened_at.timestamp() <= hi]


def judge(
    p: Played,
    incidents: Sequence[IncidentView],
    *,
    t0: float,
    grace: float,
    reversals_left: int,
    fee: dict[str, Any] | None,
) -> FaultVerdict:
    """How one played fault ended, from the counters its window saw."""
    kind = p.event.fault
    d = p.delta
    faults = d.get("faults", {})
    handled, how = False, ""
    if not p.terminals and kind is not FaultKind.ISSUER_OUTAGE:
        how = "no terminal of this estate matches the target"
    elif kind in _NETWORK:
        net = sum(n for code, n in faults.items() if code.startswith("NET."))
        acked = d.get("reversals", {}).get("acknowledged", 0)
        approved = d.get("outcomes", {}).get("approved", 0)
        handled = reversals_left == 0 and (net > 0 or approved > 0)
        codes = ", ".join(sorted(c for c in faults if c.startswith("NET.")))
        how = (
            f"{net} network faults seen ({codes or 'none'}), sales went on via the backup "
            f"front-end ({approved} approved meanwhile), {acked} reversals acknowledged; "
            "none left pending"
        )
    elif kind in (FaultKind.PAPER_OUT, FaultKind.PRINTER_COVER_OPEN):
        seen = faults.get(kind.code, 0)
        cleared = d.get("cleared", {}).get(kind.code, 0)
        handled = seen > 0 and cleared >= seen
        how = f"{seen} printers reported it, slips held in the print queue, {cleared} cleared"
    elif kind is FaultKind.ISSUER_OUTAGE:
        declined = d.get("declines", {}).get("TXN.ISSUER_UNAVAILABLE", 0)
        handled = True
        how = f"{declined} sales declined with 91, no charge, cardholder told to use another card"
    elif kind is FaultKind.BAD_FIRMWARE:
        # the health check runs in the inactive slot before any switch: a bad package never
        # runs, and no terminal may report it as its version
        switched = d.get("lifecycle", {}).get("update_switched", 0)
        failed = faults.get("SW.UPDATE_FAILED", 0)
        handled = bool(p.terminals) and failed == len(p.terminals) and switched == 0
        how = (
            f"{failed} health checks failed in the inactive slot, {switched} switched: "
            "the previous version kept running"
        )
    elif kind is FaultKind.FEE_RATE_CHANGE and fee is not None:
        flagged = set(fee.get("merchants_flagged", []))
        raised = set(fee.get("merchants_raised", []))
        handled = bool(raised) and raised <= flagged
        how = (
            f"fee audit of the settled batch flagged {len(flagged & raised)} of {len(raised)} "
            f"merchants with REG.FEE_RATE_CHANGED"
        )
    return FaultVerdict(
        fault=kind.value,
        code=kind.code,
        at_s=round(p.event.at, 2),
        for_s=None if p.event.duration is None else round(p.event.duration, 2),
        note=p.event.note,
        terminals=p.terminals,
        handled=handled,
        how=how,
        incidents=_related(p, incidents, t0, grace),
        evidence={**d, **p.detail},
    )


SESSION_DECLINES = ("TXN.MAC_ERROR", "CFG.NOT_SIGNED_ON")  # A0, 77


@dataclass
class DemoReport:
    out_dir: str
    timeline: str
    duration_s: float
    wall_s: float
    stopped_early: bool
    terminals: int
    dashboard_url: str
    transactions: dict[str, int]
    amount_approved_fen: int
    declines: dict[str, int]
    faults_seen: dict[str, int]
    reversals: dict[str, int]
    reversals_left: int
    faults: list[FaultVerdict]
    incidents: list[dict[str, Any]]
    fleet_events: dict[str, int]
    telemetry_left: int
    reconciliation: dict[str, Any]
    light: dict[str, Any] | None
    settlement: dict[str, Any]
    fee_audit: dict[str, Any] | None
    pan_scan: dict[str, Any]
    databases: dict[str, str]
    wear_story: dict[str, Any] | None = None  # the wearing printer (sim/wear_story.py)

    @property
    def session_declines(self) -> int:
        """Sales declined because the terminal's session with its host was wrong (A0: MAC does
        not verify, 77: not signed on): no fault of any story causes one, so any is a defect."""
        return sum(self.declines.get(code, 0) for code in SESSION_DECLINES)

    @property
    def clean(self) -> bool:
        return (
            self.session_declines == 0
            and self.reconciliation["differences"] == 0
            and self.reconciliation.get("exceptions", 0) == 0
            and self.settlement["balanced"] == self.terminals
            and (self.light is None or self.light["rejected"] == 0)
            and self.reversals_left == 0
            and self.pan_scan["clear_pans_found"] == 0
            and all(f.accounted for f in self.faults)
        )

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        for f, v in zip(body["faults"], self.faults, strict=True):
            f["accounted"] = v.accounted
        body["session_declines"] = self.session_declines
        body["clean"] = self.clean
        return body

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(self.to_json(), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        tmp.replace(path)


def scan_for_pans(paths: Iterable[Path], pans: Sequence[str]) -> dict[str, Any]:
    """Look for every clear PAN (as ASCII digits) in the bytes of each file."""
    hits: dict[str, int] = {}
    scanned: list[str] = []
    needles = [p.encode() for p in pans]
    for path in paths:
        if not path.exists():
            continue
        data = path.read_bytes()
        scanned.append(path.name)
        n = sum(data.count(nd) for nd in needles)
        if n:
            hits[path.name] = n
    return {"files": scanned, "clear_pans_found": sum(hits.values()), "where": hits}


def incident_json(i: IncidentView) -> dict[str, Any]:
    return {
        "id": i.id,
        "rule": i.rule_id,
        "code": i.code,
        "scope": i.scope,
        "status": i.status,
        "opened_at": i.opened_at.isoformat(),
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
    }
