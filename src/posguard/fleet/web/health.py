"""A terminal's health at a glance, from what it is doing, not only from open incidents.

An incident says a cause was seen; it closes on its own rule's clock (a host outage ten minutes
after the last fault). Health says what the terminal does *now*, so it looks at its latest
signals (:class:`Signals`) as well: its newest approved sale and the host that approved it, its
heartbeat, its printer and its queue of receipts. One terminal gets the first state that holds:

- ``frozen``: an open DEV.FREEZE / DEV.BLACK_SCREEN and no sale approved since it opened;
- ``down``: no heartbeat (an open DEV.FREEZE) *and* no traffic, or an open DEV.POWER_LOSS /
  SW.CRASH / other critical incident and no traffic; "down" needs both silence and no sales;
- ``printer_fault``: an open PRN.* incident, the last printer state is not ok, or receipts are
  piling up (``QUEUED_RECEIPTS_LIMIT`` or more waiting to print);
- ``failover``: its newest approved sale went through another host than its own (degraded:
  working on the backup);
- ``degraded``: a network cause (its own network incident, or its host's or area's outage)
  not yet cleared for this terminal, or any other open incident;
- ``ok``: nothing of the above. A network cause clears for a terminal the moment it sells
  through its own host again, not when the incident closes.

>>> from datetime import UTC, datetime, timedelta
>>> from posguard.catalog import default_catalog
>>> cat, now = default_catalog(), datetime(2026, 12, 1, 12, tzinfo=UTC)
>>> ago = lambda s: now - timedelta(seconds=s)
>>> classify(Signals(codes={"PRN.PAPER_OUT": ago(60), "DEV.FREEZE": ago(30)}), catalog=cat).value
'frozen'
>>> via_backup = Signals(group_since=ago(120), approved_at=ago(5), approved_host="cup-backup")
>>> classify(via_backup, primary_host="cup-sh", catalog=cat).value
'failover'
>>> back = Signals(group_since=ago(120), approved_at=ago(5), approved_host="cup-sh")
>>> classify(back, primary_host="cup-sh", catalog=cat).value
'ok'
>>> classify(Signals(group_since=ago(120)), primary_host="cup-sh", catalog=cat).value
'degraded'
>>> classify(Signals(codes={"SW.CRASH": ago(30)}), catalog=cat).value
'down'
>>> classify(Signals(codes={"SW.CRASH": ago(30)}, approved_at=ago(2)), catalog=cat).value
'degraded'
>>> classify(Signals(receipts_queued=300), catalog=cat).value
'printer_fault'
>>> classify(Signals(), catalog=cat).value
'ok'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from posguard.catalog.model import Category, Entry, Severity


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILOVER = "failover"
    DOWN = "down"
    FROZEN = "frozen"
    PRINTER_FAULT = "printer_fault"


HEALTH_ORDER: tuple[Health, ...] = (
    Health.OK,
    Health.DEGRADED,
    Health.FAILOVER,
    Health.PRINTER_FAULT,
    Health.DOWN,
    Health.FROZEN,
)
"""Display order on the overview (best first)."""

FROZEN_CODES = frozenset({"DEV.FREEZE", "DEV.BLACK_SCREEN"})
SILENT_CODES = frozenset({"DEV.FREEZE"})  # the absence rule: no heartbeat
DOWN_CODES = frozenset({"DEV.POWER_LOSS", "SW.CRASH"})
PRINTER_OK_STATES = frozenset({"ok", "ready", "online", "paper_low"})
QUEUED_RECEIPTS_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Signals:
    """What the fleet knows of one terminal now."""

    codes: Mapping[str, datetime] = field(default_factory=dict)  # open incident code -> opened
    group_since: datetime | None = None  # its host or area is under a network outage since
    approved_at: datetime | None = None  # its newest approved sale (recent window only)
    approved_host: str | None = None  # the host that approved it
    printer_state: str | None = None
    receipts_queued: int = 0


def classify(
    s: Signals, *, catalog: Mapping[str, Entry], primary_host: str | None = None
) -> Health:
    """The health of one terminal from its signals (see the module docstring)."""

    def sold_since(when: datetime) -> bool:
        return s.approved_at is not None and s.approved_at >= when

    def category(code: str) -> Category | None:
        entry = catalog.get(code)
        return entry.category if entry is not None else None

    traffic = s.approved_at is not None
    frozen = [t for c, t in s.codes.items() if c in FROZEN_CODES]
    if frozen and not sold_since(min(frozen)):
        return Health.FROZEN
    silent = any(c in SILENT_CODES for c in s.codes)
    critical = any(
        (e := catalog.get(c)) is not None
        and e.severity is Severity.CRITICAL
        and e.category is not Category.NETWORK
        for c in s.codes
    )
    if not traffic and (silent or critical or any(c in DOWN_CODES for c in s.codes)):
        return Health.DOWN
    bad_printer = s.printer_state is not None and s.printer_state.lower() not in PRINTER_OK_STATES
    if (
        bad_printer
        or s.receipts_queued >= QUEUED_RECEIPTS_LIMIT
        or any(c.startswith("PRN.") for c in s.codes)
    ):
        return Health.PRINTER_FAULT
    on_backup = traffic and primary_host is not None and s.approved_host not in (None, primary_host)
    if on_backup:
        return Health.FAILOVER
    network = [t for c, t in s.codes.items() if category(c) is Category.NETWORK]
    if s.group_since is not None:
        network.append(s.group_since)
    # a network cause is over for this terminal once its own host approves a sale again
    if network and not sold_since(max(network)):
        return Health.DEGRADED
    others = [c for c in s.codes if category(c) is not Category.NETWORK and c not in FROZEN_CODES]
    if others:
        return Health.DEGRADED
    return Health.OK
