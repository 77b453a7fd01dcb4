"""The configured channels as people may see them: id, type, rate limit, and for each secret
where it is looked for and whether it can be read, never its value. Used by
``posguard fleet notify channels`` and the dashboard's notifications page.

>>> from posguard.fleet.notify.config import parse_config
>>> cfg = parse_config({"channels": [{"id": "ops", "type": "webhook", "url": "http://x/",
...     "secret": {"env": "POSGUARD_DOCTEST_UNSET_SECRET"}}], "routes": []}, source="t")
>>> [(c.id, c.type, c.rate_per_min, c.ready) for c in summarize(cfg)]
[('ops', 'webhook', None, False)]
>>> summarize(cfg)[0].secrets[0].where
'env:POSGUARD_DOCTEST_UNSET_SECRET'
"""

from __future__ import annotations

from dataclasses import dataclass

from posguard.common.errors import ConfigError
from posguard.fleet.notify.channels.registry import secret_refs
from posguard.fleet.notify.config import NotifyConfig
from posguard.fleet.notify.secrets import SecretRef


@dataclass(frozen=True, slots=True)
class SecretState:
    field: str
    where: str  # env:NAME or file:PATH
    readable: bool


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    id: str
    type: str
    rate_per_min: int | None
    secrets: tuple[SecretState, ...]

    @property
    def ready(self) -> bool:
        return all(s.readable for s in self.secrets)


def summarize(cfg: NotifyConfig) -> list[ChannelSummary]:
    out: list[ChannelSummary] = []
    for cid, ch in cfg.channels.items():
        states: list[SecretState] = []
        for name, ref in secret_refs(ch).items():
            assert isinstance(ref, SecretRef)
            try:
                ref.resolve()
                ok = True
            except ConfigError:
                ok = False
            states.append(SecretState(name, str(ref), ok))
        out.append(ChannelSummary(cid, ch.type, ch.rate_per_min, tuple(states)))
    return out
