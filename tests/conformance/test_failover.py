"""Failover between acquirer hosts, each with its own session (UnionPay practice).

Source: UnionPay POS practice: working keys come from a sign-on (签到) with the host that
checks them; a host that has not signed the terminal on answers 77 (请重新签到). A terminal
that fails over must therefore sign on to the backup before it sends it a MACed request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refhost import reference_host

from conftest import EXPIRY, PAN, config
from posguard.iso8583.codec import Message
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import EventRecorder


def refusing_77_without_session(host: Any) -> Any:
    """A host that answers 77 to anything but a sign-on until the terminal signed on to it."""

    def script(msg: Message) -> Any:
        if msg["t"] != "0800" and host.keys is None:
            return {"39": "77", "mac": False}
        return None

    return script


async def test_failover_signs_on_to_the_backup_first_no_77(tmp_path: Path) -> None:
    """Rule: each host keeps its own session; the first sale after a switch to the backup is
    preceded by a sign-on to the backup, so it is not refused 77.
    Source: UnionPay POS practice (签到 per host; 77)."""
    async with reference_host(name="primary") as primary, reference_host(name="backup") as backup:
        backup.script = refusing_77_without_session(backup)
        term = Terminal(
            config([primary.port, backup.port], tmp_path / "j.db"), emit=EventRecorder()
        )
        async with term:
            assert (await term.sale(PAN, EXPIRY, 1000)).host == "primary"
            assert (primary.sign_ons, backup.sign_ons) == (1, 0)
            await primary.stop()  # the primary goes away: connections refused
            r = await term.sale(PAN, EXPIRY, 2000)
            assert (r.outcome, r.host, r.rc) == (Outcome.APPROVED, "backup1", "00")
            assert [m["t"] for m in backup.requests(("0800", "0200"))] == ["0800", "0200"]
            assert all(m.get("39") != "77" for m in backup.requests("0200"))


async def test_maintenance_keeps_the_backup_signed_on(tmp_path: Path) -> None:
    """Rule: the backup is kept signed on while the primary serves, so a switch costs no
    sign-on at sale time. Source: UnionPay POS practice (签到 per host)."""
    async with reference_host(name="primary") as primary, reference_host(name="backup") as backup:
        backup.script = refusing_77_without_session(backup)
        term = Terminal(config([primary.port, backup.port], tmp_path / "j.db"))
        async with term:
            assert await term.keep_signed_on() == ["primary", "backup1"]
            assert await term.keep_signed_on() == []  # already signed on: nothing sent
            await primary.stop()
            r = await term.sale(PAN, EXPIRY, 2000)
            assert (r.outcome, r.host) == (Outcome.APPROVED, "backup1")
            assert backup.sign_ons == 1
            assert [m["t"] for m in backup.received_msgs()] == ["0800", "0200"]
