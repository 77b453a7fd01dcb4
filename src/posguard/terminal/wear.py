"""The terminal's wear and health counters: what it really counts, kept across restarts.

``WearStore`` keeps cumulative counters (``common.events.WearCounters``) in a small SQLite
file in the service's data directory; each heartbeat carries a snapshot as ``data.wear``, and
the fleet reads how fast each grows (``posguard.fleet.prediction``). What feeds them:

- ``CountingPort`` around the printer port: lines (line feeds sent) and cuts (``GS V``)
  printed, and each time the printer *enters* paper-out, overheat or cutter-jam (a state
  reported on every poll counts once);
- the service's start: ``boots`` always, ``watchdog_restarts`` when the watchdog restarted it
  after a crash or a freeze;
- the cash register's card reader, through the local sale request's ``reader`` object
  (``failures`` before the read that worked, ``fallback`` when a chip card had to be swiped);
- ``battery_pct`` from the operating system's power supply, when the device has a battery.

A counter nothing feeds is left out of the heartbeat (not sent as 0); one whose source is there
is reported from 0 (``feeds``), so "no overheat yet" is a count, not a gap.

>>> import tempfile, pathlib
>>> store = WearStore(pathlib.Path(tempfile.mkdtemp()) / "wear.db")
>>> store.add("card_reads", 3); store.add("chip_fallbacks")
>>> store.snapshot()
{'card_reads': 3, 'chip_fallbacks': 1}
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from posguard.common.errors import ConfigError
from posguard.common.events import WEAR_COUNTERS, WearCounters
from posguard.terminal.printer.ports import PrinterPort
from posguard.terminal.printer.profiles import PrinterIdentity
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.watchdog import StartReason

_ENTERED: dict[PrinterStatus, str] = {
    PrinterStatus.PAPER_OUT: "printer_paper_out",
    PrinterStatus.OVERHEAT: "printer_overheat",
    PrinterStatus.CUTTER_JAM: "printer_cutter_jam",
}
PRINTER_COUNTERS = ("printer_lines", "printer_cuts", *_ENTERED.values())
_CUT = b"\x1dV"  # GS V: full or partial cut
POWER_SUPPLY = Path("/sys/class/power_supply")


class WearStore:
    """Cumulative counters in SQLite; thread-safe (the print worker counts from its thread)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS wear (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()

    def feeds(self, *names: str) -> None:
        """These counters have a source on this terminal: reported from 0, not left out."""
        for name in names:
            self.add(name, 0)

    def add(self, name: str, n: int = 1) -> None:
        if name not in WEAR_COUNTERS:
            raise ConfigError(f"unknown wear counter {name!r}; known: {', '.join(WEAR_COUNTERS)}")
        if n < 0:
            raise ValueError(f"wear counter {name}: cannot add {n}")
        with self._lock:
            self._db.execute(
                "INSERT INTO wear (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, n),
            )

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM wear").fetchall()
        found = dict(rows)
        return {n: int(found[n]) for n in WEAR_COUNTERS if n in found}

    def started(self, reason: StartReason) -> None:
        """One start of the runtime; a restart after a crash or freeze is the watchdog's."""
        self.add("boots")
        if reason in (StartReason.CRASH, StartReason.FREEZE):
            self.add("watchdog_restarts")

    def card_read(self, *, failures: int = 0, fallback: bool = False) -> None:
        """A card read by the register's reader: ``failures`` failed tries before it."""
        self.add("card_reads", 1 + failures)
        if failures:
            self.add("card_read_failures", failures)
        if fallback:
            self.add("chip_fallbacks")

    def heartbeat(self, power_supply: Path = POWER_SUPPLY) -> dict[str, Any]:
        """The ``wear`` object of a heartbeat, validated by the shared schema."""
        data: dict[str, Any] = dict(self.snapshot())
        pct = battery_pct(power_supply)
        if pct is not None:
            data["battery_pct"] = pct
        return WearCounters.model_validate(data).model_dump(exclude_none=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def battery_pct(root: Path = POWER_SUPPLY) -> float | None:
    """The first battery's charge in percent, or None on a device without one."""
    try:
        supplies = sorted(root.iterdir())
    except OSError:
        return None
    for supply in supplies:
        try:
            if (supply / "type").read_text().strip() != "Battery":
                continue
            value = float((supply / "capacity").read_text().strip())
        except (OSError, ValueError):
            continue
        if 0 <= value <= 100:
            return value
    return None


class CountingPort:
    """A printer port that counts what goes through it into a :class:`WearStore`."""

    def __init__(self, port: PrinterPort, store: WearStore) -> None:
        self.port = port
        self.store = store
        self._last: PrinterStatus | None = None

    def send(self, data: bytes) -> None:
        self.port.send(data)  # counted only once the printer took it
        lines = data.count(b"\n")
        if lines:
            self.store.add("printer_lines", lines)
        cuts = data.count(_CUT)
        if cuts:
            self.store.add("printer_cuts", cuts)

    def status(self) -> PrinterStatus:
        now = self.port.status()
        counter = _ENTERED.get(now)
        if counter is not None and now != self._last:
            self.store.add(counter)
        self._last = now
        return now

    def identify(self) -> PrinterIdentity:
        return self.port.identify()

    def close(self) -> None:
        self.port.close()
