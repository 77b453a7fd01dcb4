"""A terminal's health at a glance, derived from its open incidents and its latest printer state.

One terminal gets the first state that holds, in this order:

- ``frozen``: an open DEV.FREEZE (no heartbeat for three intervals) or DEV.BLACK_SCREEN;
- ``down``: an open critical incident, DEV.POWER_LOSS or SW.CRASH, or the terminal sits under
  an open host- or area-wide incident (its acquirer host or its area is out);
- ``printer_fault``: an open PRN.* incident, or the last printer event reported a state other
  than ``ok``;
- ``degraded``: any other open incident;
- ``ok``: nothing open.

>>> from posguard.catalog import default_catalog
>>> cat = default_catalog()
>>> classify({"PRN.PAPER_OUT", "DEV.FREEZE"}, catalog=cat).value
'frozen'
>>> classify({"NET.READ_TIMEOUT"}, catalog=cat).value
'degraded'
>>> classify(set(), printer_state="paper_out", catalog=cat).value
'printer_fault'
>>> classify(set(), group_down=True, catalog=cat).value
'down'
>>> classify(set(), catalog=cat).value
'ok'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from posguard.catalog.model import Entry, Severity


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    FROZEN = "frozen"
    PRINTER_FAULT = "printer_fault"


HEALTH_ORDER: tuple[Health, ...] = (
    Health.OK,
    Health.DEGRADED,
    Health.PRINTER_FAULT,
    Health.DOWN,
    Health.FROZEN,
)
"""Display order on the overview (best first)."""

FROZEN_CODES = frozenset({"DEV.FREEZE", "DEV.BLACK_SCREEN"})
DOWN_CODES = frozenset({"DEV.POWER_LOSS", "SW.CRASH"})
PRINTER_OK_STATES = frozenset({"ok", "ready", "online", "paper_low"})


def classify(
    open_codes: Iterable[str],
    *,
    catalog: Mapping[str, Entry],
    group_down: bool = False,
    printer_state: str | None = None,
) -> Health:
    """The health of one terminal from the codes of its open incidents."""
    codes = set(open_codes)
    if codes & FROZEN_CODES:
        return Health.FROZEN
    critical = any(
        (e := catalog.get(c)) is not None and e.severity is Severity.CRITICAL for c in codes
    )
    if group_down or critical or codes & DOWN_CODES:
        return Health.DOWN
    bad_printer = printer_state is not None and printer_state.lower() not in PRINTER_OK_STATES
    if bad_printer or any(c.startswith("PRN.") for c in codes):
        return Health.PRINTER_FAULT
    if codes:
        return Health.DEGRADED
    return Health.OK
