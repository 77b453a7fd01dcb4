"""The network report as table rows for the CSV download (one language per file).

>>> columns("en")[:3]
['Area', 'Carrier', 'Link']
>>> columns("zh-CN")[0]
'地区'
"""

from __future__ import annotations

from typing import Any, Final

from posguard.fleet.network_report.rows import NetworkReport

_COLUMNS: Final = (
    ("地区", "Area"),
    ("运营商", "Carrier"),
    ("网络类型", "Link"),
    ("终端数", "Terminals"),
    ("交易尝试", "Attempts"),
    ("超时", "Timeouts"),
    ("连接重置", "Resets"),
    ("超时/千笔", "Timeouts per 1,000"),
    ("重置/千笔", "Resets per 1,000"),
    ("失败/千笔", "Failures per 1,000"),
    ("RTT p50 (ms)", "RTT p50 (ms)"),
    ("RTT p95 (ms)", "RTT p95 (ms)"),
    ("弱信号占比", "Weak-signal share"),
    ("备份线路占比", "Failover share"),
    ("每周失败/千笔", "Weekly failures per 1,000"),
    ("趋势", "Trend"),
    ("建议", "Recommendation"),
)
_TRENDS: Final = {
    "worse": ("变差", "worse"),
    "better": ("好转", "better"),
    "steady": ("持平", "steady"),
}


def _zh(lang: str) -> bool:
    return lang.startswith("zh")


def columns(lang: str) -> list[str]:
    return [zh if _zh(lang) else en for zh, en in _COLUMNS]


def trend_label(trend: str | None, lang: str) -> str:
    if trend is None:
        return ""
    zh, en = _TRENDS[trend]
    return zh if _zh(lang) else en


def table(report: NetworkReport, lang: str) -> list[list[Any]]:
    return [
        [
            r.area,
            r.carrier,
            r.link,
            r.terminals,
            r.attempts,
            r.timeouts,
            r.resets,
            r.timeouts_per_1000,
            r.resets_per_1000,
            r.failures_per_1000,
            r.rtt_p50_ms,
            r.rtt_p95_ms,
            r.weak_signal_share,
            r.failover_share,
            " ".join("-" if w is None else f"{w:g}" for w in r.weekly_failures_per_1000),
            trend_label(r.trend, lang),
            r.recommendation.text(lang),
        ]
        for r in report.rows
    ]
