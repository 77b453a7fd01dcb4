"""Front-ends of one acquirer host system share its key database (``HostEndpoint.key_domain``).

Source: acquirer practice (UnionPay 收单前置): working keys belong to the terminal in the host
system's key management (its HSM and key database), not to the front-end processor (前置机)
the terminal reached; a sign-on (签到) at any front-end replaces the keys every front-end of
that system checks, and a request MACed with replaced keys is refused A0 (MAC 校验错). A
terminal configured with one key domain for its primary and backup front-ends therefore signs
on once, keeps no second session (signing on at the backup would replace the primary's keys),
and fails over and back without a sign-on and without an A0. The scripted front-ends below
share one key holder and refuse any request whose MAC the current keys do not verify.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from refhost import ReferenceHost, reference_host

from conftest import EXPIRY, PAN, config
from posguard.iso8583.codec import Message
from posguard.iso8583.mac import MacAlgorithm, check_mac
from posguard.terminal.config import BreakerConfig
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import EventRecorder


def _one_key_database(fronts: tuple[ReferenceHost, ...], refused: list[str]) -> None:
    """Script every front-end: a sign-on at any replaces the keys of all; a MACed request
    whose MAC the current keys do not verify is answered A0."""

    def script_for(me: ReferenceHost) -> Any:
        def script(msg: Message) -> Any:
            if msg["t"] == "0800":
                answer = me.sign_on_answer(msg)
                for other in fronts:
                    other.keys = me.keys
                return answer
            if me.keys is None:
                return {"39": "77", "mac": False}
            if msg["t"] != "0820" and not check_mac(
                me.spec, msg, MacAlgorithm.X919, me.keys.mac_key
            ):
                refused.append(f"{me.name} {msg['t']} {msg.get('11')}")
                return {"39": "A0", "mac": False}
            return None

        return script

    for front in fronts:
        front.script = script_for(front)


async def test_one_key_domain_fails_over_and_back_with_one_sign_on_and_no_a0(
    tmp_path: Path,
) -> None:
    """Rule: front-ends sharing a key database share the terminal's working keys; no sign-on
    at the backup while the primary serves, none on failing over or back, and no A0.
    Source: acquirer practice (收单前置 of one host system share its key management)."""
    refused: list[str] = []
    async with reference_host(name="primary") as primary, reference_host(name="backup") as backup:
        _one_key_database((primary, backup), refused)
        cfg = config([primary.port, backup.port], tmp_path / "j.db")
        cfg = cfg.model_copy(
            update={
                "hosts": [h.model_copy(update={"key_domain": "acq"}) for h in cfg.hosts],
                "breaker": BreakerConfig(open_seconds=0.2, max_open_seconds=0.4),
            }
        )
        async with Terminal(cfg, emit=EventRecorder()) as term:
            first = await term.sale(PAN, EXPIRY, 1000)
            assert (first.outcome, first.host) == (Outcome.APPROVED, "primary")
            assert await term.keep_signed_on() == []  # the domain is signed on already
            assert (primary.sign_ons, backup.sign_ons) == (1, 0)

            await primary.stop()  # the primary front-end goes away
            over = await term.sale(PAN, EXPIRY, 2000)
            assert (over.outcome, over.host, over.rc) == (Outcome.APPROVED, "backup1", "00")
            assert backup.requests("0800") == []

            assert (await term.sign_on()).host == "backup1"  # replaces the keys of both
            await primary.start()  # back, on its own port
            back = None
            for _ in range(40):  # the breaker's cool-down, then a probe: at most ~4 s
                await asyncio.sleep(0.1)
                r = await term.sale(PAN, EXPIRY, 3000)
                assert r.outcome is Outcome.APPROVED, r.rc
                if r.host == "primary":
                    back = r
                    break
            assert back is not None, "the terminal never went back to the primary"
            assert (primary.sign_ons, backup.sign_ons) == (1, 1)
            assert primary.requests("0800")[-1:] == primary.requests("0800")[:1]  # no new one
    assert refused == []
