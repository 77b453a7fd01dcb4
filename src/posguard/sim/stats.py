"""What the demo saw, counted as it happens: transactions by outcome, faults by catalog code,
reversals queued and acknowledged, failovers, rollbacks, and a short log for the live view.

Every terminal's telemetry hook feeds :meth:`DemoStats.note` with the event it just wrote
to its outbox, so these counts are the same events the fleet receives.

>>> s = DemoStats()
>>> s.note("T0000001", "transaction", None, {"type": "sale", "outcome": "approved"})
>>> s.note("T0000001", "reversal", None, {"stage": "acknowledged", "stan": "000002"})
>>> s.outcomes["approved"], s.reversals["acknowledged"]
(1, 1)
"""

from __future__ import annotations

from collections import Counter, deque
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
    amount_approved: int = 0
    log: deque[str] = field(default_factory=lambda: deque(maxlen=12))

    def say(self, line: str) -> None:
        self.log.append(f"{datetime.now().strftime('%H:%M:%S')} {line}")

    def note(self, tid: str, kind: str, code: str | None, data: dict[str, Any]) -> None:
        if kind == "transaction":
            outcome = str(data.get("outcome", ""))
            self.outcomes[outcome] += 1
            if outcome == "approved" and data.get("type") == "sale":
                self.amount_approved += int(data.get("amount", 0) or 0)
            if outcome == "declined" and code:
                self.declines[code] += 1
        elif kind == "fault" and code:
            self.faults[code] += 1
            self.by_terminal_fault.setdefault(code, set()).add(tid)
        elif kind == "fault_cleared" and code:
            self.cleared[code] += 1
        elif kind == "reversal":
            stage = str(data.get("stage", ""))
            self.reversals[stage] += 1
            if stage == "acknowledged":
                self.say(f"{tid} reversal of STAN {data.get('stan', '')} acknowledged / 冲正成功")
        elif kind == "lifecycle":
            event = str(data.get("event", ""))
            self.lifecycle[event] += 1
            if event == "rolled_back":
                self.say(f"{tid} firmware rolled back to {data.get('version')} / 固件已回退")
