"""A doctor finding (:class:`CheckReport`), the catalog's next step for it, and the one
finding over all hosts of a per-host check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from posguard.catalog import Text
from posguard.catalog.checks import CheckResult
from posguard.catalog.loader import default_catalog
from posguard.terminal.doctor.sentences import say

ALL_HOSTS: Final = "all hosts"


@dataclass(frozen=True)
class CheckReport:
    """The finding of one check on one target (a host, the printer), or over all of them.

    ``sentence`` says it in Chinese and English; ``detail`` (English) and ``result`` are
    what the knowledge-base wizard reads. ``duration_ms`` is the figure the sentence talks
    about (the echo's round trip, the median, the time until the failure)."""

    check_id: str
    result: CheckResult
    target: str
    sentence: Text
    code: str | None = None
    duration_ms: float | None = None
    next_step: dict[str, str] | None = None
    items: tuple[CheckReport, ...] = field(default=())

    @property
    def detail(self) -> str:
        return self.sentence.en

    @property
    def failed(self) -> bool:
        return self.result is CheckResult.FAIL

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check_id,
            "result": self.result.value,
            "target": self.target,
            "detail": self.sentence.en,
            "detail_zh": self.sentence.zh,
            "code": self.code,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 1),
            "next_step": self.next_step,
        }
        if self.items:
            out["items"] = [i.to_json() for i in self.items]
        return out


def next_step(code: str | None, check_id: str) -> dict[str, str] | None:
    """The catalog's advice for ``code``: its first step, skipping a step that only says to
    run this very check (the doctor has just run it)."""
    if code is None:
        return None
    entry = default_catalog().get(code)
    if entry is None:
        return None
    step = next((s for s in entry.steps if s.check != check_id), entry.steps[0])
    return {"zh": step.zh, "en": step.en}


def finding(
    check_id: str,
    result: CheckResult,
    target: str,
    sentence: Text,
    code: str | None = None,
    ms: float | None = None,
) -> CheckReport:
    """A report, with the catalog's next step when it failed or warns."""
    step = next_step(code, check_id) if result in (CheckResult.FAIL, CheckResult.WARN) else None
    return CheckReport(check_id, result, target, sentence, code, ms, step)


def skipped(check_id: str, target: str, because: str) -> CheckReport:
    return finding(
        check_id,
        CheckResult.UNAVAILABLE,
        target,
        say(f"未检查：{because} 已失败", f"skipped: {because} failed"),
    )


_WORST: Final = {
    CheckResult.FAIL: 3,
    CheckResult.WARN: 2,
    CheckResult.PASS: 1,
    CheckResult.UNAVAILABLE: 0,
}
# Checks where one working host is enough for sales to go on.
_FAILOVER: Final = frozenset({"doctor.tcp_connect", "doctor.iso_echo", "doctor.round_trip"})


def _joined(items: list[CheckReport]) -> Text:
    return say(
        "；".join(f"{i.target}: {i.sentence.zh}" for i in items),
        "; ".join(f"{i.target}: {i.sentence.en}" for i in items),
    )


def aggregate(check_id: str, items: list[CheckReport]) -> CheckReport:
    """One finding over all hosts, as the catalog check defines it. The target is "all
    hosts" only when every host failed; otherwise it names the host the finding is about
    (or the hosts, when all passed), and ``duration_ms`` is that finding's own figure."""
    usable = [i for i in items if i.result is not CheckResult.UNAVAILABLE]
    if not usable:
        first = items[0]
        return CheckReport(
            check_id, CheckResult.UNAVAILABLE, first.target, first.sentence, items=tuple(items)
        )
    if len(items) == 1:
        return items[0]
    failed = [i for i in usable if i.result is CheckResult.FAIL]
    if failed and len(failed) == len(items):
        first = failed[0]  # its code and next step lead; the sentence names every host
        return CheckReport(
            check_id,
            CheckResult.FAIL,
            ALL_HOSTS,
            _joined(failed),
            first.code,
            None,
            first.next_step,
            tuple(items),
        )
    if failed and check_id in _FAILOVER:
        first = failed[0]  # the primary (or some host) is down, a backup works
        sentence = say(
            f"{first.sentence.zh}；备用主机可用", f"{first.sentence.en}; a backup host works"
        )
        return CheckReport(
            check_id,
            CheckResult.WARN,
            first.target,
            sentence,
            first.code,
            first.duration_ms,
            first.next_step,
            tuple(items),
        )
    worst = max(usable, key=lambda i: _WORST[i.result])
    if worst.result is not CheckResult.PASS:
        return CheckReport(
            check_id,
            worst.result,
            worst.target,
            worst.sentence,
            worst.code,
            worst.duration_ms,
            worst.next_step,
            tuple(items),
        )
    slowest = max((i.duration_ms for i in usable if i.duration_ms is not None), default=None)
    return CheckReport(
        check_id,
        CheckResult.PASS,
        ", ".join(i.target for i in items),
        _joined(items),
        None,
        slowest,
        None,
        tuple(items),
    )
