"""A terminal wired to a scripted reference host (tests/conformance/refhost.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from posguard.common.events import EventKind
from posguard.terminal.config import PracticeConfig, TerminalConfig, Timeouts
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import EventRecorder, lab_cards, local_config

sys.path.insert(0, str(Path(__file__).parent))  # refhost.py, imported by the tests too

from refhost import ReferenceHost, Script, reference_host

PAN = lab_cards()[0]
EXPIRY = "3012"
READ = 1.0


@dataclass
class Lab:
    host: ReferenceHost
    terminal: Terminal
    events: EventRecorder
    printed: list[Any] = field(default_factory=list)

    def reversal_events(self, stage: str) -> list[tuple[str | None, dict[str, Any]]]:
        return [
            (c, d)
            for k, c, d in self.events.events
            if k is EventKind.REVERSAL and d.get("stage") == stage
        ]


def config(ports: int | list[int], journal: Path, **practice: Any) -> TerminalConfig:
    cfg = local_config(ports, journal, timeouts=Timeouts(dns=1.0, connect=0.5, read=READ))
    return cfg.model_copy(update={"practice": PracticeConfig(**practice)})


@pytest.fixture
def lab_factory(tmp_path: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def make(
        script: Script, *, batch: str | None = None, **practice: Any
    ) -> AsyncIterator[Lab]:
        async with reference_host(script, batch=batch) as host:
            events = EventRecorder()
            printed: list[Any] = []
            term = Terminal(
                config(host.port, tmp_path / "journal.db", **practice),
                emit=events,
                print_receipt=printed.append,
            )
            async with term:
                yield Lab(host, term, events, printed)

    return make
