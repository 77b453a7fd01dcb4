"""A risk's evidence in words (zh/en), for the visit list and the terminal page.

Each reason names the statistic and its numbers, so a technician or a sceptical manager can
check it against the counters: the recent rate against the terminal's own usual rate, the
Theil–Sen slope, the CUSUM's change day, the incidents, and whether the symptom only wear of
the part raises (chip fallbacks, cutter jams) rose too: a reason that lowers the risk when it
did not.
"""

from __future__ import annotations

from dataclasses import dataclass

from posguard.catalog.text import Text
from posguard.fleet.prediction.components import BY_NAME, Component
from posguard.fleet.prediction.score import Evidence


@dataclass(frozen=True, slots=True)
class Reason:
    term: str  # level | trend | change | incidents | confirmed | unconfirmed
    weight: float  # its contribution to the score (negative: it lowered the risk)
    text: Text


def _rate(comp: Component, value: float) -> str:
    if comp.use_unit == 1.0 and comp.use == "card_reads":
        return f"{100 * value:.1f}%"
    return f"{value:.2f}"


def reasons(ev: Evidence) -> list[Reason]:
    """The terms that raised this component's risk, largest first (none when none did)."""
    comp = BY_NAME[ev.component]
    out: list[Reason] = []
    t = ev.terms
    if t.get("level", 0) > 0:
        recent, usual = _rate(comp, ev.recent_rate), _rate(comp, ev.baseline_rate)
        out.append(
            Reason(
                "level",
                t["level"],
                Text(
                    zh=f"近 3 天{comp.rate_label.zh} {recent}，平时 {usual}",
                    en=f"{comp.rate_label.en} {recent} over the last 3 days, usually {usual}",
                ),
            )
        )
    if t.get("trend", 0) > 0 and ev.slope_per_day > 0:
        slope = _rate(comp, ev.slope_per_day)
        out.append(
            Reason(
                "trend",
                t["trend"],
                Text(
                    zh=f"逐日上升：每天 +{slope}（Theil–Sen 斜率，近 10 天）",
                    en=f"rising {slope} a day (Theil–Sen slope, last 10 days)",
                ),
            )
        )
    if t.get("change", 0) > 0 and ev.cusum.alarm and ev.change_day is not None:
        out.append(
            Reason(
                "change",
                t["change"],
                Text(
                    zh=f"自 {ev.change_day.isoformat()} 起持续偏高（CUSUM {ev.cusum.peak:.1f}）",
                    en=f"persistently higher since {ev.change_day.isoformat()} "
                    f"(CUSUM {ev.cusum.peak:.1f})",
                ),
            )
        )
    if ev.incidents:
        out.append(
            Reason(
                "incidents",
                t.get("incidents", 0.0),
                Text(
                    zh=f"近 30 天{comp.title.zh}相关故障 {ev.incidents} 次",
                    en=f"{ev.incidents} {comp.title.en} incident(s) in the last 30 days",
                ),
            )
        )
    if out:  # something raised the risk: say whether the part's own symptom backs it
        confirm = _confirmation(comp, ev)
        if confirm is not None:
            out.append(confirm)
    out.sort(key=lambda r: r.weight, reverse=True)
    return out


def _confirmation(comp: Component, ev: Evidence) -> Reason | None:
    label = comp.confirm_label
    if label is None or ev.confirm_recent_rate is None or ev.confirm_baseline_rate is None:
        return None
    recent = _rate(comp, ev.confirm_recent_rate)
    usual = _rate(comp, ev.confirm_baseline_rate)
    days = ev.confirm_days
    lowered = ev.terms.get("unconfirmed", 0.0)
    if lowered < 0:
        return Reason(
            "unconfirmed",
            lowered,
            Text(
                zh=f"但{label.zh}未明显上升（近 {days} 天 {recent}，平时 {usual}）："
                "仅其他症状上升，多为操作或耗材所致，风险调低",
                en=f"but {label.en} did not clearly rise ({recent} over the last {days} "
                f"days, usually {usual}): the others rising alone is more often handling or "
                "consumables than wear, so the risk is lowered",
            ),
        )
    return Reason(
        "confirmed",
        0.0,
        Text(
            zh=f"{label.zh}同步上升（近 {days} 天 {recent}，平时 {usual}），只有部件磨损会引起",
            en=f"{label.en} up too ({recent} over the last {days} days, "
            f"usually {usual}): only wear of the part raises it",
        ),
    )
