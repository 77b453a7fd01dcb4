"""The registry of machine checks a catalog step may name in its ``check`` field.

A catalog file names a check by a short registered id (``doctor.tcp_connect``), never by
an import path: a data file cannot make posguard load code. The code that *runs* a check
lives with its face (the terminal doctor, the printer port, the fleet); this module only
fixes the ids, what each one looks at, and what its result values mean, so that the
terminal, the fleet and the knowledge base agree.

>>> CHECKS["doctor.dns"].title.en
'Resolve the host names'
>>> is_registered("printer.status"), is_registered("os.system")
(True, False)
>>> CheckResult.WARN.passed
True
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from posguard.catalog.text import Text


class CheckResult(StrEnum):
    """The outcome of one machine check. Every check reports exactly one of these."""

    PASS = "pass"  # noqa: S105 - nothing wrong found: move on to the next step
    WARN = "warn"  # works now, but something is close to failing (see the check's `warn`)
    FAIL = "fail"  # the fault is here: the step's advice applies
    UNAVAILABLE = "unavailable"  # the check could not run (no access, not supported): do it by hand

    @property
    def passed(self) -> bool:
        """True when the step needs no action now (``pass`` or ``warn``)."""
        return self in (CheckResult.PASS, CheckResult.WARN)


class Check(BaseModel):
    """One registered machine check: what it looks at and what each result means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: Text
    passes: Text
    fails: Text
    warn: Text | None = None

    def meaning(self, result: CheckResult) -> Text | None:
        """What ``result`` means for this check (``None`` for ``unavailable`` or no warn level)."""
        return {
            CheckResult.PASS: self.passes,
            CheckResult.FAIL: self.fails,
            CheckResult.WARN: self.warn,
            CheckResult.UNAVAILABLE: None,
        }[result]


def _t(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


_ALL: tuple[Check, ...] = (
    Check(
        id="doctor.dns",
        title=_t("解析主机域名", "Resolve the host names"),
        passes=_t(
            "每个主机域名都能解析出地址。", "Every configured host name resolves to an address."
        ),
        fails=_t(
            "至少一个主机域名解析不出来（DNS 无应答或域名不存在）。",
            "At least one host name does not resolve (no DNS answer or no such name).",
        ),
    ),
    Check(
        id="doctor.tcp_connect",
        title=_t("连接主机端口", "Open a TCP connection to each host"),
        passes=_t(
            "主机和备机的端口都能连上。", "The primary and backup host ports accept a connection."
        ),
        fails=_t(
            "连不上：被拒绝、超时或没有路由；结果里带有对应的 NET 代码。",
            "Cannot connect: refused, timed out or no route; the result carries the NET code.",
        ),
        warn=_t("只有备机能连上。", "Only the backup host accepts a connection."),
    ),
    Check(
        id="doctor.tls_handshake",
        title=_t("TLS 握手与证书", "TLS handshake and certificate"),
        passes=_t(
            "握手成功，主机证书可信且在有效期内。",
            "Handshake succeeds; the host certificate is trusted and valid.",
        ),
        fails=_t(
            "握手失败，或证书过期、不受信任、与主机名不符。",
            "Handshake fails, or the certificate is expired, untrusted or for another name.",
        ),
        warn=_t("证书 30 天内到期。", "The certificate expires within 30 days."),
    ),
    Check(
        id="doctor.iso_echo",
        title=_t("主机回响测试（0820）", "Host echo test (0820)"),
        passes=_t("主机对回响测试回了 00。", "The host answers the echo test with 00."),
        fails=_t("主机没回或回了非 00。", "The host does not answer, or answers other than 00."),
    ),
    Check(
        id="doctor.round_trip",
        title=_t("主机响应时间", "Host round-trip time"),
        passes=_t("回响测试在 2 秒内回来。", "The echo test comes back within 2 seconds."),
        fails=_t("在读超时时间内没有回应。", "No answer within the read timeout."),
        warn=_t("回来了，但超过 2 秒。", "It comes back, but takes longer than 2 seconds."),
    ),
    Check(
        id="printer.status",
        title=_t("打印机状态", "Printer status"),
        passes=_t(
            "打印机在线，有纸，盖子关好。",
            "The printer is online, has paper and its cover is closed.",
        ),
        fails=_t(
            "打印机缺纸、开盖、离线、切刀卡住或过热；结果里带有对应的 PRN 代码。",
            "Out of paper, cover open, offline, cutter jammed or overheated; "
            "the result carries the PRN code.",
        ),
        warn=_t("纸快用完了。", "The paper roll is nearly used up."),
    ),
    Check(
        id="printer.test_print",
        title=_t("打印测试页", "Print a test slip"),
        passes=_t("测试页打出来并切好了。", "A test slip printed and was cut."),
        fails=_t("测试页没有打出来。", "The test slip did not print."),
    ),
    Check(
        id="terminal.signed_on",
        title=_t("终端签到状态", "Terminal sign-on"),
        passes=_t("今天已签到，工作密钥有效。", "Signed on today; the working keys are valid."),
        fails=_t(
            "没有签到，或工作密钥失效。", "Not signed on, or the working keys are no longer valid."
        ),
    ),
    Check(
        id="terminal.pending_reversals",
        title=_t("待冲正交易", "Pending reversals"),
        passes=_t("没有待冲正的交易。", "No reversal is waiting."),
        fails=_t(
            "有冲正重试多次仍未被主机确认。",
            "A reversal has been retried many times and the host has still not confirmed it.",
        ),
        warn=_t(
            "有冲正在排队，正在自动重发。", "Reversals are queued and being resent automatically."
        ),
    ),
    Check(
        id="terminal.firmware_version",
        title=_t("终端型号与软件版本", "Terminal model and software version"),
        passes=_t(
            "型号和运行的版本都在批准清单上，且是最新批准版本。",
            "The model and the running version are on the approved list, and current.",
        ),
        fails=_t(
            "型号或版本不在批准清单上，或升级没有生效。",
            "The model or version is not on the approved list, or an update did not take effect.",
        ),
        warn=_t(
            "有新的批准版本还没装。", "A newer approved version is available but not installed."
        ),
    ),
    Check(
        id="terminal.config_valid",
        title=_t("终端参数", "Terminal configuration"),
        passes=_t(
            "主机地址、终端号、商户号等参数齐全且格式正确。",
            "Host addresses, terminal ID, merchant ID and the other parameters "
            "are present and well-formed.",
        ),
        fails=_t(
            "有参数缺失或格式不对；结果里写明是哪一项。",
            "A parameter is missing or malformed; the result names it.",
        ),
    ),
    Check(
        id="terminal.clock",
        title=_t("终端时间", "Terminal clock"),
        passes=_t(
            "终端时间与标准时间相差不到 1 分钟。",
            "The terminal clock is within 1 minute of true time.",
        ),
        fails=_t("终端时间偏差超过 5 分钟。", "The terminal clock is off by more than 5 minutes."),
        warn=_t("偏差在 1 到 5 分钟之间。", "The clock is off by 1 to 5 minutes."),
    ),
    Check(
        id="terminal.storage",
        title=_t("终端存储空间", "Terminal storage"),
        passes=_t("剩余空间充足，流水库可写。", "Enough free space; the journal is writable."),
        fails=_t("空间不足或流水库写不进去。", "Out of space, or the journal cannot be written."),
        warn=_t("剩余空间低于 10%。", "Less than 10% free space left."),
    ),
    Check(
        id="terminal.batch_totals",
        title=_t("批次汇总", "Batch totals"),
        passes=_t(
            "终端本批次的笔数和金额与主机一致。",
            "The terminal's batch counts and amounts agree with the host.",
        ),
        fails=_t("笔数或金额与主机不一致。", "Counts or amounts differ from the host's."),
    ),
    Check(
        id="fleet.recent_events",
        title=_t("近期故障记录", "Recent fault events"),
        passes=_t("过去 24 小时没有重复出现的故障。", "No fault repeated in the last 24 hours."),
        fails=_t("同一故障在 24 小时内反复出现。", "The same fault recurred within 24 hours."),
        warn=_t("24 小时内出现过一次。", "The fault occurred once in the last 24 hours."),
    ),
    Check(
        id="fleet.last_seen",
        title=_t("终端最近上线时间", "Terminal last seen"),
        passes=_t("终端按时发送心跳。", "The terminal sends its heartbeats on time."),
        fails=_t(
            "超过 3 个心跳周期没收到心跳。", "No heartbeat for more than 3 heartbeat intervals."
        ),
    ),
    Check(
        id="fleet.host_health",
        title=_t("主机整体成功率", "Host health across the fleet"),
        passes=_t(
            "最近 10 分钟主机成功率正常。",
            "The host's success rate over the last 10 minutes is normal.",
        ),
        fails=_t(
            "很多终端同时连不上或超时：问题在主机或专线一侧。",
            "Many terminals fail or time out at once: the fault is on the host or line side.",
        ),
        warn=_t("失败率高于平时。", "The failure rate is above normal."),
    ),
    Check(
        id="fleet.area_health",
        title=_t("同一区域终端状况", "Terminals in the same area"),
        passes=_t("同一区域的其他终端正常。", "Other terminals in the same area work normally."),
        fails=_t(
            "同一区域（同一商场、同一运营商）的终端同时出问题。",
            "Terminals in the same area (same mall, same carrier) fail at the same time.",
        ),
    ),
)

CHECKS: Mapping[str, Check] = MappingProxyType({c.id: c for c in _ALL})
"""Every registered check by id; read-only."""


def is_registered(check_id: str) -> bool:
    """True when ``check_id`` names a registered machine check."""
    return check_id in CHECKS
