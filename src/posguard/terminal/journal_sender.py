"""What the reversal sender and the advice forwarder share: a host session, its journal, the
retry backoff from the terminal's config, and a clock for when the next try is due."""

from __future__ import annotations

from collections.abc import Callable

from posguard.terminal.engine.session import HostSession
from posguard.terminal.journal.store import wall_clock
from posguard.terminal.link.backoff import Backoff


class JournalSender:
    """Sends records the journal holds pending, each try counted there before it leaves."""

    def __init__(
        self,
        session: HostSession,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = wall_clock,
    ) -> None:
        self.session = session
        self.journal = session.journal
        self.backoff = backoff or Backoff.from_config(session.cfg.retry)
        self.clock = clock
