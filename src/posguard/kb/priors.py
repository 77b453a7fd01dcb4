"""How often each fault happens: the prior kb search weighs its ranking by.

The catalog prior is data (``data/priors.yaml``: code -> relative frequency, a typical fault
is 1); a fleet that counts its incidents builds its own with :func:`priors_from_counts`.

>>> p = priors_from_counts({"PRN.PAPER_OUT": 90, "PRN.QUEUE_STUCK": 10})
>>> round(p["PRN.PAPER_OUT"] / p["PRN.QUEUE_STUCK"], 1)  # (90 + 1) / (10 + 1)
8.3
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from posguard.common.errors import ConfigError

PRIORS_FILE = Path(str(files("posguard.kb") / "data" / "priors.yaml"))
MIN_WEIGHT = 0.05
MAX_WEIGHT = 20.0


def load_priors(
    path: Path = PRIORS_FILE, *, codes: Mapping[str, Any] | None = None
) -> Mapping[str, float]:
    """Read ``code: weight`` pairs; a weight must be a number in [0.05, 20] and, when
    ``codes`` is given, every code one of them. Errors name the file and the code."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path.name}: cannot read priors: {exc}", file=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: must map catalog codes to weights", file=str(path))
    out: dict[str, float] = {}
    for code, weight in raw.items():
        if codes is not None and code not in codes:
            raise ConfigError(f"{path.name}: {code!r} is not a catalog code", file=str(path))
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ConfigError(f"{path.name}: {code}: weight must be a number", file=str(path))
        if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            raise ConfigError(
                f"{path.name}: {code}: weight {weight} is outside [{MIN_WEIGHT}, {MAX_WEIGHT}]",
                file=str(path),
            )
        out[str(code)] = float(weight)
    return MappingProxyType(out)


@cache
def catalog_priors() -> Mapping[str, float]:
    """The shipped catalog prior, read once per process."""
    return load_priors()


def priors_from_counts(counts: Mapping[str, int], *, smoothing: float = 1.0) -> Mapping[str, float]:
    """Weights from observed counts (a fleet's incidents per code): each count plus
    ``smoothing``, relative to the geometric mean, clamped to [0.05, 20]. Codes never seen
    are left out (they weigh 1)."""
    if not counts:
        return MappingProxyType({})
    logs = {c: math.log(n + smoothing) for c, n in counts.items()}
    mean = sum(logs.values()) / len(logs)
    return MappingProxyType(
        {c: min(MAX_WEIGHT, max(MIN_WEIGHT, math.exp(v - mean))) for c, v in logs.items()}
    )
