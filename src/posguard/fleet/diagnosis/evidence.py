"""The bounds of an incident's stored explanation (``incidents.explanation``).

An incident row was ≈ 2.2 KB, most of it the explanation; a storm of events must not make it
grow without bound. What is stored:

- at most :data:`MAX_EXPLANATION_EVENTS` event references (the last ones the rule matched, the
  one that tipped it among them) and ``events_total``, how many it matched. The evidence itself
  is the events linked in ``incident_events`` (at most ``kinds.MAX_EVIDENCE`` per decision;
  the incident's detail page and ``GET /api/v1/incidents/{id}`` list them from there);
- at most :data:`MAX_MEMBERS` member terminals (a group incident's affected-terminal list);
- every text (reason, rule description, clear reason, catalog title) at most
  :data:`MAX_TEXT` characters, a longer one cut with ``…``.

>>> clip("x" * 400)[-3:], len(clip("x" * 400))
('xx…', 300)
>>> ev = [{"id": i} for i in range(30)]
>>> b = bounded({"reason": "r", "events": ev})
>>> [e["id"] for e in b["events"]], b["events_total"]
([25, 26, 27, 28, 29], 30)
"""

from __future__ import annotations

from typing import Any

MAX_EXPLANATION_EVENTS = 5
MAX_MEMBERS = 500  # terminals named in one group incident's explanation
MAX_TEXT = 300
_TEXTS = ("reason", "rule_description", "cleared")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded(explanation: dict[str, Any]) -> dict[str, Any]:
    """``explanation`` within the documented caps (a new dict; the input is not changed)."""
    out = dict(explanation)
    for key in _TEXTS:
        if isinstance(out.get(key), str):
            out[key] = clip(out[key])
    events = out.get("events")
    if isinstance(events, list):
        out["events_total"] = max(len(events), int(out.get("events_total") or 0))
        out["events"] = events[-MAX_EXPLANATION_EVENTS:]
    members = out.get("members")
    if isinstance(members, list):
        out["members"] = members[:MAX_MEMBERS]
    catalog = out.get("catalog")
    if isinstance(catalog, dict) and isinstance(catalog.get("title"), dict):
        title = {k: clip(v) if isinstance(v, str) else v for k, v in catalog["title"].items()}
        out["catalog"] = {**catalog, "title": title}
    return out
