"""What participants work with: the host session, the journal, the reversal sender, the hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine.session import HostSession
from posguard.terminal.journal.records import Record
from posguard.terminal.journal.store import Journal
from posguard.terminal.reversal import ReversalSender
from posguard.terminal.saf import AdviceForwarder

# Called with the completed record; raising means "could not complete on the terminal".
Completer = Callable[[Record], object]


@dataclass
class Services:
    cfg: TerminalConfig
    session: HostSession
    journal: Journal
    reversals: ReversalSender
    advices: AdviceForwarder
    complete: Completer
    today: Callable[[], date]
