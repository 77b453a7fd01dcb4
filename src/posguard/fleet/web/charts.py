"""Charts as inline SVG, rendered on the server (no JavaScript chart library).

>>> svg = stacked_bars(("10", "11"), {"network": (1, 3)}, labels={"network": "Network"})
>>> svg.startswith("<svg") and "Network" in svg and svg.count("<rect") >= 2
True
>>> "<script" in stacked_bars(("a",), {"x<script>": (1,)}, labels={})
False
>>> svg = hbars([("Acme PX-5", 2.5), ("Zeta Z9", 10.0)], title="MTTR")
>>> svg.count("<rect"), 'aria-label="MTTR"' in svg, "<title>Zeta Z9: 10.0</title>" in svg
(2, True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE: Mapping[str, str] = {
    "network": "#2f6fdd",
    "hardware": "#d9534f",
    "software": "#8e44ad",
    "configuration": "#f0ad4e",
    "third_party": "#16a085",
    "regulatory": "#7f8c8d",
    "cardholder": "#95a5a6",
    "issuer_host": "#c0392b",
    "operator": "#16a085",
    "unknown": "#bdc3c7",
}
_FALLBACK = ("#34495e", "#e67e22", "#27ae60", "#2980b9")


def _color(key: str, i: int) -> str:
    return PALETTE.get(key, _FALLBACK[i % len(_FALLBACK)])


def stacked_bars(
    buckets: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    labels: Mapping[str, str],
    width: int = 720,
    height: int = 200,
    tick_every: int = 1,
    tick_format: int = 0,
) -> Markup:
    """One bar per bucket, stacked by series, with a legend and the bucket labels.

    ``tick_format`` keeps the last N characters of a bucket label (0: all of it)."""
    left, bottom, top, legend_h = 36, 22, 8, 22
    plot_h = height - bottom - top - legend_h
    n = max(len(buckets), 1)
    totals = [sum(s[i] for s in series.values()) for i in range(len(buckets))]
    peak = max([*totals, 1])
    slot = (width - left - 8) / n
    bar_w = max(slot * 0.7, 1.0)
    aria = escape(", ".join(labels.get(k, k) for k in series))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{aria}">'
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(
            f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="#667">{round(peak * frac)}</text>'
        )
    for i, bucket in enumerate(buckets):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for j, (key, values) in enumerate(series.items()):
            v = values[i] if i < len(values) else 0
            if v <= 0:
                continue
            h = plot_h * v / peak
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{_color(key, j)}"><title>{escape(bucket)} · '
                f"{escape(labels.get(key, key))}: {v}</title></rect>"
            )
        if i % max(tick_every, 1) == 0:
            text = bucket[-tick_format:] if tick_format else bucket
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'font-size="10" fill="#667">{escape(text)}</text>'
            )
    lx = left
    ly = height - 8
    for j, key in enumerate(series):
        name = escape(labels.get(key, key))
        out.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{_color(key, j)}"/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="11" fill="#333">{name}</text>'
        )
        lx += 34 + sum(12 if ord(c) > 0x2E7F else 7 for c in labels.get(key, key))
    if not series:
        out.append(
            f'<text x="{width / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            f'font-size="12" fill="#889">0</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text is escaped above


def hbars(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 420,
    peak: float | None = None,
    fmt: str = "{:.1f}",
) -> Markup:
    """One horizontal bar per labelled value, the value written at its end; ``peak`` fixes the
    scale (1.0 for a rate), else the largest value. ``title`` is the chart's accessible name."""
    label_w, row_h, pad = 130, 24, 6
    height = max(len(items), 1) * row_h + 2 * pad
    top = max([peak or 0.0, *(v for _, v in items), 1e-9])
    plot_w = width - label_w - 56
    name = escape(title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{name}"><title>{name}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = pad + i * row_h
        w = max(plot_w * value / top, 0.0)
        text = escape(fmt.format(value))
        lab = escape(label)
        short = escape(label if len(label) <= 18 else label[:17] + "…")
        out.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12" '
            f'fill="#333">{short}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{_FALLBACK[3]}"><title>{lab}: {text}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 16}" font-size="12" fill="#445">'
            f"{text}</text>"
        )
    if not items:
        out.append(
            f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" '
            f'font-size="12" fill="#889">0</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every interpolated text is escaped above
