"""What the runtime assembles participants from: the host session, the journal, the reversal
sender, the advice forwarder, the hooks. Each participant takes only the part it uses (its
roles are in :mod:`posguard.terminal.engine.ports`)."""

from __future__ import annotations

from dataclasses import dataclass

from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine.ports import Completer, Today
from posguard.terminal.engine.session import HostSession
from posguard.terminal.journal.store import Journal
from posguard.terminal.reversal import ReversalSender
from posguard.terminal.saf import AdviceForwarder


@dataclass
class Services:
    cfg: TerminalConfig
    session: HostSession
    journal: Journal
    reversals: ReversalSender
    advices: AdviceForwarder
    complete: Completer
    today: Today
