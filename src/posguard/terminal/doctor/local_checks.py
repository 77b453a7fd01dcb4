"""The terminal's own checks: configuration, the journal's disk, reversals waiting.

===========================  ==========================================================
terminal.config_valid        the parameters make sense together: merchant name for the
                             slips, a backup that is really another host, TLS files
                             present, a known printer profile
terminal.storage             the journal's disk: writable, warn under 10 % free, fail
                             under 1 %
terminal.pending_reversals   reversals waiting in the journal: warn while they are being
                             resent, fail when one has been tried 5 times or more
===========================  ==========================================================
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Final

from posguard.catalog import Text
from posguard.catalog.checks import CheckResult
from posguard.common.errors import ConfigError, PosguardError
from posguard.terminal.doctor.config import DoctorConfig
from posguard.terminal.doctor.report import CheckReport, finding
from posguard.terminal.doctor.sentences import say
from posguard.terminal.printer.profiles import load_profile

STUCK_REVERSAL_ATTEMPTS: Final = 5
STORAGE_WARN_FREE: Final = 0.10
STORAGE_FAIL_FREE: Final = 0.01


def config_valid(cfg: DoctorConfig) -> CheckReport:
    check_id = "terminal.config_valid"
    t = cfg.terminal
    target = f"terminal {t.terminal_id}"
    problems: list[tuple[str, Text]] = []  # (code, what)
    if not t.merchant_name.strip():
        problems.append(
            (
                "CFG.MERCHANT_INFO",
                say(
                    "商户名称为空：小票上只有商户编号",
                    "merchant_name is empty: slips show the ID only",
                ),
            )
        )
    addresses = [h.address for h in t.hosts]
    if len(set(addresses)) != len(addresses):
        problems.append(
            (
                "CFG.HOST_ADDRESS",
                say(
                    "两台主机地址相同：没有真正的备用主机",
                    "two hosts have the same address: no real backup",
                ),
            )
        )
    for h in t.hosts:
        for label, f in (("ca_file", h.tls.ca_file), ("cert_file", h.tls.cert_file)):
            if h.tls.enabled and f is not None and not f.is_file():
                problems.append(
                    (
                        "NET.TLS_FAILURE",
                        say(
                            f"主机 {h.name} 的 TLS 文件 {label} {f} 不存在",
                            f"host {h.name}: TLS {label} {f} is missing",
                        ),
                    )
                )
    if cfg.printer is not None:
        try:
            load_profile(cfg.printer.profile)
        except ConfigError as exc:
            problems.append(
                ("PRN.WRONG_PROFILE", say(f"打印机型号配置不可用：{exc.message}", exc.message))
            )
    if not problems:
        text = say(
            f"{len(t.hosts)} 台主机，参数一致", f"{len(t.hosts)} host(s), parameters consistent"
        )
        return finding(check_id, CheckResult.PASS, target, text)
    fatal = [p for p in problems if p[0] != "CFG.MERCHANT_INFO"]
    code, _ = (fatal or problems)[0]
    result = CheckResult.FAIL if fatal else CheckResult.WARN
    text = say("；".join(w.zh for _, w in problems), "; ".join(w.en for _, w in problems))
    return finding(check_id, result, target, text, code)


def storage(cfg: DoctorConfig) -> CheckReport:
    check_id = "terminal.storage"
    where = cfg.terminal.journal_path.resolve().parent
    target = f"journal dir {where}"
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".doctor-") as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
        usage = shutil.disk_usage(where)
    except OSError:
        text = say(
            f"交易日志目录 {where} 无法写入", f"the journal directory {where} is not writable"
        )
        return finding(check_id, CheckResult.FAIL, target, text, "SW.STORAGE_FULL")
    free = usage.free / usage.total if usage.total else 0.0
    gib = usage.free / 2**30
    text = say(f"剩余 {gib:.1f} GiB（{free:.0%}）", f"{gib:.1f} GiB free ({free:.0%})")
    if free < STORAGE_FAIL_FREE:
        return finding(check_id, CheckResult.FAIL, target, text, "SW.STORAGE_FULL")
    if free < STORAGE_WARN_FREE:
        return finding(check_id, CheckResult.WARN, target, text, "SW.STORAGE_FULL")
    text = say(f"{text.zh}，可写入", f"{text.en}, writable")
    return finding(check_id, CheckResult.PASS, target, text)


def pending_reversals(cfg: DoctorConfig) -> CheckReport:
    from posguard.terminal.journal.store import Journal

    check_id = "terminal.pending_reversals"
    t = cfg.terminal
    target = f"journal {t.journal_path}"
    if not t.journal_path.exists():
        text = say("还没有交易日志：没有待冲正交易", "no journal yet: nothing pending")
        return finding(check_id, CheckResult.PASS, target, text)
    try:
        journal = Journal.open(t.journal_path, key=t.vault_key_bytes(), terminal_id=t.terminal_id)
    except PosguardError as exc:
        text = say(f"交易日志无法读取：{exc.message}", f"the journal cannot be read: {exc.message}")
        return finding(check_id, CheckResult.UNAVAILABLE, target, text)
    try:
        pending = journal.pending_reversals()
    finally:
        journal.close()
    if not pending:
        return finding(
            check_id, CheckResult.PASS, target, say("没有待冲正交易", "no reversal waiting")
        )
    worst = max(r.reversal_attempts for r in pending)
    stans = ", ".join(r.stan for r in pending[:5])
    text = say(
        f"{len(pending)} 笔冲正等待发送，凭证号 {stans}；最多已尝试 {worst} 次",
        f"{len(pending)} reversal(s) waiting, STAN {stans}; most tries {worst}",
    )
    result = CheckResult.FAIL if worst >= STUCK_REVERSAL_ATTEMPTS else CheckResult.WARN
    return finding(check_id, result, target, text, "RECON.REVERSAL_PENDING")
