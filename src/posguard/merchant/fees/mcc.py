"""The MCC table: group (standard / reduced / non-profit), names, standard rates.

>>> table = default_mcc_table()
>>> table.name("5812").en
'Restaurants'
>>> table.standard_rate("5411", RateClass.CREDIT).describe()
'0.55%'
>>> table.issuer_fee_exempt("8062")
True
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from posguard.merchant.fees.model import MccCode, Rate, RateClass
from posguard.merchant.text import Text, t
from posguard.merchant.yamlio import load_model

DATA_FILE = Path(str(files("posguard.merchant") / "data" / "mcc_rates.yaml"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MccGroup(_Frozen):
    title: Text
    issuer_fee_exempt: bool
    rates: dict[RateClass, Rate]


class MccEntry(_Frozen):
    group: str
    name: Text


class MccTable(_Frozen):
    groups: dict[str, MccGroup]
    mcc: dict[MccCode, MccEntry]

    @model_validator(mode="after")
    def _groups_exist(self) -> Self:
        for code, entry in self.mcc.items():
            if entry.group not in self.groups:
                raise ValueError(f"MCC {code} names unknown group {entry.group!r}")
        return self

    def name(self, mcc: str) -> Text:
        entry = self.mcc.get(mcc)
        return entry.name if entry else t(f"MCC {mcc}（未收录）", f"MCC {mcc} (not in the table)")

    def label(self, mcc: str, lang: str = "en") -> str:
        return f"{mcc} {self.name(mcc).get(lang)}"

    def group(self, mcc: str) -> MccGroup | None:
        entry = self.mcc.get(mcc)
        return self.groups[entry.group] if entry else None

    def standard_rate(self, mcc: str, rate_class: RateClass) -> Rate | None:
        group = self.group(mcc)
        return group.rates.get(rate_class) if group else None

    def issuer_fee_exempt(self, mcc: str) -> bool:
        group = self.group(mcc)
        return bool(group and group.issuer_fee_exempt)


@cache
def default_mcc_table() -> MccTable:
    return load_model(MccTable, DATA_FILE)
