"""Where the watchdog's own events go: the terminal's outbox, opened when first needed.

The supervisor must outlive any trouble with its event store -- an outbox locked by the
runtime, a full disk -- so an outbox that cannot be opened or written is retried at the
next event and the failure is logged; the event itself is always logged too, so a fault
is never silent even when it cannot be stored.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.terminal.agent.outbox import Outbox

log = logging.getLogger("posguard.terminal.watchdog")


class SupervisorEvents:
    """An ``emit`` hook over the outbox at ``target`` (None: events are only logged)."""

    def __init__(self, target: Path | None, terminal_id: str, merchant_id: str) -> None:
        self.target = target
        self.terminal_id = terminal_id
        self.merchant_id = merchant_id
        self._box: Outbox | None = None

    @classmethod
    def from_options(
        cls, config: Path | None, outbox: Path | None, terminal_id: str, merchant_id: str
    ) -> SupervisorEvents:
        """``--outbox`` wins; else the outbox of the service config (``--config``)."""
        if config is not None:
            from posguard.terminal.service import load_service_config

            cfg = load_service_config(config)
            terminal_id, merchant_id = cfg.terminal.terminal_id, cfg.terminal.merchant_id
            if outbox is None:
                outbox = cfg.service.data_dir / "outbox.db"
        return cls(outbox, terminal_id, merchant_id)

    def __call__(self, kind: EventKind, code: str | None = None, **data: Any) -> object:
        level = logging.WARNING if kind is EventKind.FAULT else logging.INFO
        log.log(level, "watchdog %s %s %s", kind.value, code or "", data)
        if self.target is None:
            return None
        if self._box is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._box = Outbox(self.target, self.terminal_id, self.merchant_id)
        return self._box.emit(kind, code, **data)

    def close(self) -> None:
        if self._box is not None:
            with contextlib.suppress(Exception):
                self._box.close()
            self._box = None
