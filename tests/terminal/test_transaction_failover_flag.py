"""The ``transaction`` event says whether a backup host answered (``failover``), the flag the
fleet's Reports page counts as the failover share: a real sale against the real host
simulator, first as the primary, then as the backup behind a primary nobody listens on."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.config import Timeouts
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import (
    LAB_EXPIRY,
    LAB_TID,
    LAB_TID2,
    EventRecorder,
    lab_cards,
    lab_seed,
    local_config,
)


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()  # nothing listens: refused at once
    return port


async def test_transaction_event_flags_a_backup_answer(tmp_path: Path) -> None:
    pan = lab_cards()[0]
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        flags: list[Any] = []
        for tid, ports in ((LAB_TID, [port]), (LAB_TID2, [_dead_port(), port])):
            rec = EventRecorder()
            cfg = local_config(
                ports,
                tmp_path / f"{tid}.db",
                tid=tid,
                timeouts=Timeouts(dns=1.0, connect=0.5, read=2.0),
            )
            async with Terminal(cfg, emit=rec) as t:
                sale = await t.sale(pan, LAB_EXPIRY, 1000)
                assert sale.outcome.value == "approved", sale.rc
            txn = [d for k, _, d in rec.events if k is EventKind.TRANSACTION]
            flags.append((txn[-1]["host"], txn[-1]["failover"]))
    assert flags == [("primary", False), ("backup1", True)]
