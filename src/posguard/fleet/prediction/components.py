"""The parts of a terminal that wear out, and which counters and incidents speak for each.

A component's *fault rate* is its fault counters' growth per unit of use (overheats and cutter
jams per 1,000 printed lines; failed reads and chip fallbacks per card read), so a busy shop
and a quiet one compare. ``prior_rate`` is a typical healthy terminal's rate (what a terminal
with little history is measured against) and ``prior_use`` how much use that prior weighs.

``confirm`` names the fault counter that speaks for the part alone (docs/events.md): failed
reads rise with a worn reader *or* clumsy handling, chip fallbacks only with worn chip contacts;
overheats rise with a worn head *or* poor paper, cutter jams only with a worn cutter. A rise in
the other counters that this one does not share is more often the staff or the paper than wear,
and the score says so (``score.py``, the ``unconfirmed`` term). ``confirm_prior_rate`` is its
typical healthy rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from posguard.catalog.text import Text


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    title: Text
    faults: tuple[str, ...]  # WearCounters fields whose growth is a symptom
    use: str | None  # the WearCounters field measuring use; None: per observed day
    use_unit: float  # the rate is per this much use (1,000 lines, 1 read, 1 day)
    rate_label: Text  # what the rate is, for the explanation
    prior_rate: float
    prior_use: float
    incident_codes: frozenset[str]
    confirm: str | None = None  # the fault counter only wear of this part raises
    confirm_label: Text | None = None  # its rate, for the explanation
    confirm_prior_rate: float = 0.0


PRINTER = Component(
    name="printer",
    title=Text(zh="打印机", en="printer"),
    faults=("printer_overheat", "printer_cutter_jam"),
    use="printer_lines",
    use_unit=1000.0,
    rate_label=Text(zh="每千行过热与切刀卡纸次数", en="overheats and cutter jams per 1,000 lines"),
    prior_rate=0.05,
    prior_use=40.0,
    incident_codes=frozenset({"PRN.OVERHEAT", "PRN.CUTTER_JAM", "PRN.HARDWARE_FAULT"}),
    confirm="printer_cutter_jam",
    confirm_label=Text(zh="每千行切刀卡纸次数", en="cutter jams per 1,000 lines"),
    confirm_prior_rate=0.02,
)
CARD_READER = Component(
    name="card_reader",
    title=Text(zh="读卡器", en="card reader"),
    faults=("card_read_failures", "chip_fallbacks"),
    use="card_reads",
    use_unit=1.0,
    rate_label=Text(
        zh="读卡失败与降级刷卡占读卡次数", en="failed reads and chip fallbacks per read"
    ),
    prior_rate=0.02,
    prior_use=400.0,
    incident_codes=frozenset({"DEV.CARD_READER_FAULT"}),
    confirm="chip_fallbacks",
    confirm_label=Text(zh="降级刷卡占读卡次数", en="chip fallbacks per read"),
    confirm_prior_rate=0.004,
)
DEVICE = Component(
    name="device",
    title=Text(zh="主机", en="device"),
    faults=("watchdog_restarts",),
    use=None,
    use_unit=1.0,
    rate_label=Text(zh="每天看门狗重启次数", en="watchdog restarts per day"),
    prior_rate=0.02,
    prior_use=14.0,
    incident_codes=frozenset({"DEV.FREEZE", "SW.CRASH", "SW.CRASH_LOOP", "DEV.POWER_LOSS"}),
)

COMPONENTS: tuple[Component, ...] = (PRINTER, CARD_READER, DEVICE)
BY_NAME: dict[str, Component] = {c.name: c for c in COMPONENTS}
