"""The doctor's ISO echo against a host that holds a session (UnionPay practice).

Source: UnionPay POS practice: once signed on, every message to the host carries a MAC
(field 64) under the session's MAC key, and a host answers A0 to a request without a valid
one; ISO 8583 0820/0830 network management (301 echo test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refhost import reference_host

from conftest import config
from posguard.catalog.checks import CheckResult
from posguard.iso8583.codec import Message
from posguard.iso8583.mac import MacAlgorithm, check_mac
from posguard.terminal.doctor import DoctorConfig, arun_check
from posguard.terminal.runtime import Terminal


def strict_after_sign_on(host: Any) -> Any:
    """Echo without a session: 00 unMACed. With a session: a MAC is required (A0 if not)."""

    def script(msg: Message) -> Any:
        keys = host.keys
        if (
            msg["t"] == "0820"
            and keys is not None
            and not check_mac(host.spec, msg, MacAlgorithm.X919, keys.mac_key)
        ):
            return {"39": "A0", "mac": False}
        return None

    return script


async def test_doctor_echo_after_sign_on_carries_a_mac_and_passes(tmp_path: Path) -> None:
    """Rule: once a session exists the echo carries a MAC and the answer's MAC is checked:
    against a healthy, signed-on host the doctor passes, both run from the terminal (with its
    session key) and as a separate process (an A0 to an unMACed echo is "session open",
    not TXN.MAC_ERROR). Source: UnionPay POS practice (MAC on every message after sign-on)."""
    async with reference_host() as host:
        host.script = strict_after_sign_on(host)
        cfg = config(host.port, tmp_path / "j.db")
        async with Terminal(cfg) as term:
            await term.sign_on()
            inside = await arun_check(
                "doctor.iso_echo", DoctorConfig(cfg, mac_keys=term.mac_key_for)
            )
            assert (inside.result, inside.code) == (CheckResult.PASS, None), inside.detail
            echo = host.requests("0820")[-1]
            assert isinstance(echo.get("64"), bytes)
            outside = await arun_check("doctor.iso_echo", DoctorConfig(cfg))
            assert (outside.result, outside.code) == (CheckResult.PASS, None), outside.detail
            assert "session" in outside.detail
            # A wrong key is a real MAC fault: the check can fail.
            wrong = await arun_check(
                "doctor.iso_echo", DoctorConfig(cfg, mac_keys=lambda _h: bytes(16))
            )
            assert (wrong.result, wrong.code) == (CheckResult.FAIL, "TXN.MAC_ERROR")
