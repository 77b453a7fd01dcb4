"""What the demo saw, counted as it happens: transactions by outcome, faults by catalog code,
reversals queued and acknowledged, failovers, rollbacks, and a short log for the live view.

Every terminal's telemetry hook feeds :meth:`DemoStats.note` with the event it just wrote
to its outbox, so these counts are the same events the fleet receives.

>>> s = DemoStats()
>>> s.note("T0000001", "transaction", None, {"type": "sale", "outcome": "approved"})
>>> s.note("T0000001", "reversal", None, {"stage": "acknowledged", "stan": "000002"})
>>> s.outcomes["approved"], s.reversals["acknowledged"]
(1, 1)
>>> s.window(["T0000002"])["outcomes"]["approved"]
0
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class DemoStats:
    outcomes: Counter[str] = field(default_factory=Counter)  # transaction outcome -> count
    faults: Counter[str] = field(default_factory=Counter)  # catalog code -> fault events
    cleared: Counter[str] = field(default_factory=Counter)  # catalog code -> cleared events
    reversals: Counter[str] = field(default_factory=Counter)  # stage -> count
    lifecycle: Counter[str] = field(default_factory=Counter)  # event -> count
    declines: Counter[str] = field(default_factory=Counter)  # catalog code of declines
    by_terminal_fault: dict[str, set[str]] = field(default_factory=dict)  # code -> terminals
    # per terminal: (counter name, key) -> count, so a fault's window counts only its terminals
    per_terminal: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    amount_approved: int = 0
    log: deque[str] = field(default_factory=lambda: deque(maxlen=12))

    def say(self, line: str) -> None:
        self.log.append(f"{datetime.now().strftime('%H:%M:%S')} {line}")

    def _count(self, tid: str, counter: Counter[str], name: str, key: str) -> None:
        counter[key] += 1
        self.per_terminal.setdefault(tid, Counter())[(name, key)] += 1

    def window(self, tids: Iterable[str]) -> dict[str, Counter[str]]:
        """The counters restricted to ``tids`` (for one fault's terminals)."""
        out: dict[str, Counter[str]] = {
            n: Counter() for n in ("faults", "cleared", "reversals", "declines", "lifecycle")
        }
        out["outcomes"] = Counter()
        for tid in tids:
            for (name, key), n in self.per_terminal.get(tid, Counter()).items():
                out[name][key] += n
        return out

    def note(self, tid: str, kind: str, code: str | None, data: dict[str, Any]) -> None:
        if kind == "transaction":
            outcome = str(data.get("outcome", ""))
            self._count(tid, self.outcomes, "outcomes", outcome)
            if outcome == "approved" and data.get("type") == "sale":
                self.amount_approved += int(data.get("amount", 0) or 0)
            if outcome == "declined" and code:
                self._count(tid, self.declines, "declines", code)
        elif kind == "fault" and code:
            self._count(tid, self.faults, "faults", code)
            self.by_terminal_fault.setdefault(code, set()).add(tid)
        elif kind == "fault_cleared" and code:
            self._count(tid, self.cleared, "cleared", code)
        elif kind == "reversal":
            stage = str(data.get("stage", ""))
            self._count(tid, self.reversals, "reversals", stage)
            if stage == "acknowledged":
                self.say(f"{tid} reversal of STAN {data.get('stan', '')} acknowledged / 冲正成功")
        elif kind == "lifecycle":
            event = str(data.get("event", ""))
            self._count(tid, self.lifecycle, "lifecycle", event)
            if event == "rolled_back":
                self.say(f"{tid} firmware rolled back to {data.get('version')} / 固件已回退")
