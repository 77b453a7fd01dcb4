"""The host checks, run over the sale's own :class:`~posguard.terminal.link.channel.Channel`
(resolve, connect, TLS, framing, timeouts) and judged by the sale's own verdict
(:mod:`posguard.terminal.engine.answer`), so the doctor names the code a sale would.

==================== ==============================================================
doctor.dns           resolve the host name within the DNS timeout
doctor.tcp_connect   open a TCP connection to the host and port
doctor.tls_handshake TLS handshake with the configured trust anchor; warn when the host
                     certificate expires within 30 days
doctor.iso_echo      an ISO 8583 echo test (0820, network code 301); the host must answer
                     0830 with 00. With the running terminal's session key
                     (``DoctorConfig.mac_keys``) the echo carries a MAC and the answer's MAC
                     is checked; without it (a separate process) an A0 answer means
                     "session open, MAC required": reachable
doctor.round_trip    median time of a few echo tests on one connection; warn above 2 s
==================== ==============================================================
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Final

from posguard.catalog import Text
from posguard.catalog.checks import CheckResult
from posguard.common.errors import LinkError, MessageEncodeError, MessageError
from posguard.iso8583.codec import encode
from posguard.iso8583.framing import LengthHeader
from posguard.iso8583.mac import MacAlgorithm, apply_mac
from posguard.iso8583.spec import load_spec
from posguard.terminal.config import HostEndpoint
from posguard.terminal.doctor.config import DoctorConfig
from posguard.terminal.doctor.report import CheckReport, finding
from posguard.terminal.doctor.sentences import say, sentence
from posguard.terminal.engine.answer import Status, check_answer, link_failure
from posguard.terminal.engine.messages import echo
from posguard.terminal.link.channel import Channel

SLOW_MS: Final = 2000.0
CERT_WARN_DAYS: Final = 30


class _Verdict(Exception):  # noqa: N818 - how an echo ended, when not with 00
    def __init__(self, code: str, text: Text, ms: float | None = None) -> None:
        super().__init__(code)
        self.code, self.text, self.ms = code, text, ms


def _facts(cfg: DoctorConfig, host: HostEndpoint) -> dict[str, Any]:
    t = cfg.terminal.timeouts
    return {"name": host.host, "addr": host.address, "connect": t.connect, "read": t.read}


def _channel(cfg: DoctorConfig, host: HostEndpoint) -> Channel:
    t = cfg.terminal
    return Channel(host, t.timeouts, header=LengthHeader[t.length_header])


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def target_of(host: HostEndpoint) -> str:
    return f"{host.name} {host.address}"


def _failed(
    check_id: str, cfg: DoctorConfig, host: HostEndpoint, code: str, ms: float, **more: Any
) -> CheckReport:
    text = sentence(code, **_facts(cfg, host), **more)
    return finding(check_id, CheckResult.FAIL, target_of(host), text, code, ms)


async def dns(cfg: DoctorConfig, host: HostEndpoint) -> CheckReport:
    t0 = time.perf_counter()
    try:
        addrs = await _channel(cfg, host).resolve()
    except LinkError as exc:
        return _failed("doctor.dns", cfg, host, link_failure(exc)[1], _ms(t0))
    ms = _ms(t0)
    shown = ", ".join(a for a, _ in addrs[:3])
    text = say(f"解析为 {shown}，用时 {ms:.0f} ms", f"resolves to {shown} in {ms:.0f} ms")
    return finding("doctor.dns", CheckResult.PASS, target_of(host), text, ms=ms)


async def tcp_connect(cfg: DoctorConfig, host: HostEndpoint) -> CheckReport:
    ch = _channel(cfg, host)
    t0 = time.perf_counter()
    try:
        await ch.connect(tls=False)
    except LinkError as exc:
        return _failed("doctor.tcp_connect", cfg, host, link_failure(exc)[1], _ms(t0))
    finally:
        await ch.close()
    ms = ch.timing.connect * 1000
    text = say(f"TCP 连接成功，用时 {ms:.0f} ms", f"TCP connection made in {ms:.0f} ms")
    return finding("doctor.tcp_connect", CheckResult.PASS, target_of(host), text, ms=ms)


async def tls_handshake(cfg: DoctorConfig, host: HostEndpoint) -> CheckReport:
    check_id, target = "doctor.tls_handshake", target_of(host)
    if not host.tls.enabled:
        text = say("未配置 TLS", "TLS is not configured")
        return finding(check_id, CheckResult.UNAVAILABLE, target, text)
    ch = _channel(cfg, host)
    t0 = time.perf_counter()
    try:
        await ch.connect()
        session = ch.tls_session()
    except LinkError as exc:
        return _failed(check_id, cfg, host, link_failure(exc)[1], _ms(t0))
    finally:
        await ch.close()
    ms = ch.timing.tls * 1000
    version, expires = session if session is not None else ("TLS", None)
    days = None if expires is None else (expires - time.time()) / 86400
    if days is not None and days < CERT_WARN_DAYS:
        text = say(
            f"{version}：主机证书 {days:.0f} 天后过期，请及时更换",
            f"{version}: the host certificate expires in {days:.0f} days; have it renewed",
        )
        return finding(check_id, CheckResult.WARN, target, text, "NET.TLS_FAILURE", ms)
    left_zh = "" if days is None else f"，证书还有 {days:.0f} 天有效"
    left_en = "" if days is None else f"; certificate valid {days:.0f} more days"
    text = say(
        f"{version} 握手成功，用时 {ms:.0f} ms{left_zh}",
        f"{version} handshake in {ms:.0f} ms{left_en}",
    )
    return finding(check_id, CheckResult.PASS, target, text, ms=ms)


async def _echo_once(
    cfg: DoctorConfig, host: HostEndpoint, ch: Channel, stan: int, key: bytes | None
) -> float:
    """One 0820/0830 on ``ch``: its round trip in ms, or :class:`_Verdict` naming the code
    a sale's exchange would have come to."""
    t = cfg.terminal
    spec = load_spec(t.spec)
    alg = MacAlgorithm[t.mac_algorithm]
    msg = echo(t, f"{stan % 999999 + 1:06d}", "000001")
    if key is not None:
        msg = apply_mac(spec, msg, alg, key)
    t0 = time.perf_counter()
    try:
        await ch.send(encode(spec, msg))
        payload = await ch.receive()
    except MessageEncodeError:
        raise
    except (LinkError, MessageError) as exc:
        code = link_failure(exc)[1]
        raise _Verdict(code, sentence(code, **_facts(cfg, host)), _ms(t0)) from exc
    ms = _ms(t0)
    checked = check_answer(spec, msg, payload, mac_alg=alg, mac_key=key)
    rc = checked.answer.get("39") if checked.answer is not None else None
    if checked.status is Status.OK and rc == "A0" and key is None:
        raise _Verdict(
            "",
            say(
                f"0830 用时 {ms:.0f} ms：主机与本终端有会话，要求带 MAC 的回响（A0）；"
                "请从终端（远程命令）运行体检以同时检查 MAC",
                f"0830 in {ms:.0f} ms: the host has a session with this terminal and wants a "
                "MACed echo (A0); run the doctor from the terminal (remote command) to check "
                "the MAC too",
            ),
            ms,
        )
    if checked.code is not None:
        raise _Verdict(
            checked.code,
            sentence(checked.code, **_facts(cfg, host), rc=rc if isinstance(rc, str) else ""),
            ms,
        )
    return ms


async def _echoes(cfg: DoctorConfig, host: HostEndpoint, n: int) -> list[float]:
    ch = _channel(cfg, host)
    key = cfg.mac_keys(host.name) if cfg.mac_keys is not None else None
    t0 = time.perf_counter()
    try:
        await ch.connect()
    except LinkError as exc:
        code = link_failure(exc)[1]
        raise _Verdict(code, sentence(code, **_facts(cfg, host)), _ms(t0)) from exc
    try:
        base = int(time.time())
        return [await _echo_once(cfg, host, ch, base + i, key) for i in range(n)]
    finally:
        await ch.close()


async def iso_echo(cfg: DoctorConfig, host: HostEndpoint) -> CheckReport:
    check_id, target = "doctor.iso_echo", target_of(host)
    try:
        (ms,) = await _echoes(cfg, host, 1)
    except _Verdict as v:
        result = CheckResult.PASS if not v.code else CheckResult.FAIL
        return finding(check_id, result, target, v.text, v.code or None, v.ms)
    text = say(f"0830 应答 00，用时 {ms:.0f} ms", f"0830 rc 00 in {ms:.0f} ms")
    return finding(check_id, CheckResult.PASS, target, text, ms=ms)


async def round_trip(cfg: DoctorConfig, host: HostEndpoint) -> CheckReport:
    check_id, target = "doctor.round_trip", target_of(host)
    n = max(1, cfg.echo_count)
    try:
        rtts = await _echoes(cfg, host, n)
    except _Verdict as v:
        result = CheckResult.PASS if not v.code else CheckResult.FAIL
        return finding(check_id, result, target, v.text, v.code or None, v.ms)
    median = statistics.median(rtts)
    shown = ", ".join(f"{r:.0f}" for r in rtts)
    text = say(
        f"{n} 次回响的中位数 {median:.0f} ms（{shown} ms）",
        f"median {median:.0f} ms over {n} echoes ({shown} ms)",
    )
    if median > SLOW_MS:
        return finding(check_id, CheckResult.WARN, target, text, "NET.READ_TIMEOUT", median)
    return finding(check_id, CheckResult.PASS, target, text, ms=median)
