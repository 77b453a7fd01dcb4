"""What a merchant may see of a fleet-wide incident (a host, area, model or issuer outage that
reaches its terminals): the cause, since when, its own terminals, what to do; nothing about
other merchants (no other terminal ids, no counts over the fleet, no other terminal's events).

>>> ex = {"rule_id": "network-outage", "rule_kind": "correlation", "reason": "12 of 40 ...",
...       "members": ["T1", "X9"], "events": [{"id": 1}], "catalog": {"code": "NET.X"}}
>>> safe = merchant_safe_explanation(ex, ["T1"])
>>> safe["members"], "reason" in safe, "events" in safe, safe["fleet_wide"]
(['T1'], False, False, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_KEPT = ("rule_id", "rule_kind", "rule_description", "catalog", "cleared")


def merchant_safe_explanation(
    explanation: Mapping[str, Any], terminals: Sequence[str]
) -> dict[str, Any]:
    out = {k: explanation[k] for k in _KEPT if k in explanation}
    out["fleet_wide"] = True
    out["members"] = list(terminals)
    return out
