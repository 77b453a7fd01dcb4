"""What to put to the merchant or the network provider for one area × carrier × link.

A place is *poor* when its network failures (timeouts + resets) per 1,000 attempts are at least
twice the fleet's and at least :data:`POOR_MIN_PER_1000`, and that many failures would be
unlikely at the fleet's rate (Poisson upper tail below :data:`SIGNIFICANCE`: one terminal's
bad luck is not a case for the provider); or when its RTT p95 is above :data:`SLOW_P95_MS`.
For a poor place, in order:

- mobile (4G/5G), and another carrier on the same link in the same area fails less than half as
  often → switch to that carrier;
- mobile with a weak signal in :data:`WEAK_SHARE` or more of the sampled heartbeats → an external
  antenna or a better spot, and a second-carrier SIM or wired backup;
- mobile otherwise → a second-carrier or wired backup;
- Wi-Fi with a weak signal → an access point nearer the counter; otherwise a wired line or 4G
  backup;
- wired → ask the line's provider to check it, with a 4G backup meanwhile;
- link not reported → update the terminal's firmware so it reports its link.

>>> recommend(link="4g", attempts=2000, failures=24, fleet_per_1000=3.0, rtt_p95_ms=300.0,
...     weak_share=0.6, better_carrier=None, enough_data=True).code
'antenna_or_backup'
>>> recommend(link="4g", attempts=500, failures=4, fleet_per_1000=3.0, rtt_p95_ms=300.0,
...     weak_share=0.6, better_carrier=None, enough_data=True).code  # 8/1000, but by chance
'ok'
>>> recommend(link="wired", attempts=2000, failures=2, fleet_per_1000=3.0, rtt_p95_ms=80.0,
...     weak_share=None, better_carrier=None, enough_data=True).code
'ok'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

POOR_FACTOR: Final = 2.0
POOR_MIN_PER_1000: Final = 3.0
SLOW_P95_MS: Final = 1500.0
WEAK_SHARE: Final = 0.3
BETTER_FACTOR: Final = 0.5
SIGNIFICANCE: Final = 0.01


@dataclass(frozen=True, slots=True)
class Recommendation:
    code: str
    zh: str
    en: str

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


_TEXTS: Final = {
    "ok": ("网络正常，无需处理。", "Network fine; nothing to do."),
    "too_little_data": ("交易太少，暂不评估。", "Too few transactions to judge yet."),
    "switch_carrier": (
        "同一地区 {carrier} 的失败率不到一半：建议换用 {carrier} 的 SIM 卡。",
        "{carrier} fails less than half as often in this area: move these terminals to a "
        "{carrier} SIM.",
    ),
    "antenna_or_backup": (
        "信号弱：加装外置天线或把终端移到信号好的位置，并配第二运营商 SIM 卡或有线备份。",
        "Weak signal: fit an external antenna or move the terminal, and add a second-carrier "
        "SIM or a wired backup.",
    ),
    "second_carrier_backup": (
        "移动网络不稳定：配第二运营商 SIM 卡或有线备份，并把数据交给运营商核查基站。",
        "Unstable mobile network: add a second-carrier SIM or a wired backup, and give these "
        "figures to the carrier to check the cell.",
    ),
    "access_point": (
        "Wi-Fi 信号弱：在收银台附近加装或移近无线接入点。",
        "Weak Wi-Fi: add an access point near the counter or move the existing one closer.",
    ),
    "wired_backup": (
        "Wi-Fi 不稳定：改用有线网络，或加 4G 备份。",
        "Unstable Wi-Fi: use a wired line, or add a 4G backup.",
    ),
    "line_check": (
        "有线线路不稳定：请宽带运营商检查线路，期间加 4G 备份。",
        "Unstable wired line: ask the broadband provider to check the line; add a 4G backup "
        "meanwhile.",
    ),
    "report_link": (
        "终端未上报网络类型：请升级终端固件。",
        "The terminals do not report their link: update their firmware.",
    ),
}


def _make(code: str, **fmt: str) -> Recommendation:
    zh, en = _TEXTS[code]
    return Recommendation(code, zh.format(**fmt), en.format(**fmt))


def is_poor(attempts: int, failures: int, fleet_per_1000: float, rtt_p95_ms: float | None) -> bool:
    """Whether a place fails clearly (and not by chance) more often than the fleet, or answers
    too slowly."""
    if rtt_p95_ms is not None and rtt_p95_ms > SLOW_P95_MS:
        return True
    if not attempts:
        return False
    rate = 1000.0 * failures / attempts
    if rate < max(POOR_FACTOR * fleet_per_1000, POOR_MIN_PER_1000):
        return False
    expected = fleet_per_1000 * attempts / 1000.0
    return expected <= 0 or poisson_at_least(failures, expected) < SIGNIFICANCE


def poisson_at_least(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed in log space (no underflow for large means).

    >>> round(poisson_at_least(3, 1.0), 4)
    0.0803
    """
    if k <= 0:
        return 1.0
    logs = [i * math.log(mean) - mean - math.lgamma(i + 1) for i in range(k)]
    top = max(logs)
    below = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return max(0.0, 1.0 - below)


def recommend(
    *,
    link: str,
    attempts: int,
    failures: int,
    fleet_per_1000: float,
    rtt_p95_ms: float | None,
    weak_share: float | None,
    better_carrier: str | None,
    enough_data: bool,
) -> Recommendation:
    """The recommendation for one place (see the module doc)."""
    if not enough_data:
        return _make("too_little_data")
    if not is_poor(attempts, failures, fleet_per_1000, rtt_p95_ms):
        return _make("ok")
    weak = weak_share is not None and weak_share >= WEAK_SHARE
    if link in ("4g", "5g"):
        if better_carrier is not None:
            return _make("switch_carrier", carrier=better_carrier)
        return _make("antenna_or_backup" if weak else "second_carrier_backup")
    if link == "wifi":
        return _make("access_point" if weak else "wired_backup")
    if link == "wired":
        return _make("line_check")
    return _make("report_link")
