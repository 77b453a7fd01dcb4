"""Turn results (dataclasses, pydantic models, dates, Decimals, enums) into plain JSON data.

>>> from datetime import date
>>> from decimal import Decimal
>>> to_jsonable({"d": date(2026, 1, 2), "r": Decimal("0.680"), "t": (1, 2)})
{'d': '2026-01-02', 'r': '0.680', 't': [1, 2]}
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for name in _PROPERTIES.get(type(obj).__name__, ()):
            out[name] = to_jsonable(getattr(obj, name))
        return out
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    return obj


# Computed properties worth showing in JSON, by class name.
_PROPERTIES: dict[str, tuple[str, ...]] = {
    "OnboardingReport": ("complete",),
    "FeeAudit": ("days", "overcharged_fen"),
    "GroupStats": ("name",),
}
