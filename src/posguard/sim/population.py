"""A seeded, realistic estate: merchants, terminals, models, brands, areas and acquirer hosts.

The same seed always yields the same estate, so a demo, a test and a benchmark can talk
about "terminal T0000042 in 上海-浦东 on host cup-sh" and mean the same thing.

>>> estate = build_estate(terminals=20, seed=7)
>>> len(estate.terminals), estate.terminals[0].terminal_id
(20, 'T0000001')
>>> build_estate(terminals=20, seed=7) == estate
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, TypeVar

T = TypeVar("T")

# Areas where an estate of this kind typically sits (city-district), with a relative weight.
AREAS: Final[tuple[tuple[str, int], ...]] = (
    ("上海-浦东", 14),
    ("上海-徐汇", 8),
    ("北京-朝阳", 13),
    ("北京-海淀", 9),
    ("广州-天河", 10),
    ("深圳-南山", 10),
    ("杭州-西湖", 8),
    ("成都-武侯", 8),
    ("武汉-江汉", 6),
    ("西安-雁塔", 5),
    ("南京-鼓楼", 5),
    ("重庆-渝中", 4),
)

# Acquirer front-end hosts; each area is served by one primary host.
HOSTS: Final[tuple[str, ...]] = ("cup-sh", "cup-bj", "cup-gz", "cup-cd")
AREA_HOST: Final[dict[str, str]] = {
    "上海-浦东": "cup-sh",
    "上海-徐汇": "cup-sh",
    "杭州-西湖": "cup-sh",
    "南京-鼓楼": "cup-sh",
    "北京-朝阳": "cup-bj",
    "北京-海淀": "cup-bj",
    "西安-雁塔": "cup-bj",
    "广州-天河": "cup-gz",
    "深圳-南山": "cup-gz",
    "成都-武侯": "cup-cd",
    "武汉-江汉": "cup-cd",
    "重庆-渝中": "cup-cd",
}

# (brand, model, weight, current firmware) — common countertop and smart-POS models.
MODELS: Final[tuple[tuple[str, str, int, str], ...]] = (
    ("PAX", "A920", 18, "3.2.1"),
    ("PAX", "S90", 8, "2.9.4"),
    ("Newland", "N910", 14, "5.1.0"),
    ("Newland", "ME31", 7, "4.7.2"),
    ("Landi", "A8", 10, "6.0.3"),
    ("Landi", "E350", 6, "5.4.8"),
    ("Centerm", "K9", 8, "2.1.7"),
    ("Verifone", "VX520", 5, "11.2.0"),
    ("Xinguodu", "G2", 4, "1.8.5"),
)

# (merchant category code, kind zh, kind en, weight, mean ticket in fen)
MERCHANT_KINDS: Final[tuple[tuple[str, str, str, int, int], ...]] = (
    ("5411", "超市", "supermarket", 18, 8_800),
    ("5499", "便利店", "convenience store", 22, 2_600),
    ("5812", "餐厅", "restaurant", 24, 12_000),
    ("5912", "药店", "pharmacy", 9, 6_500),
    ("5541", "加油站", "petrol station", 6, 30_000),
    ("5651", "服装店", "clothing shop", 9, 26_000),
    ("7011", "酒店", "hotel", 4, 68_000),
    ("5732", "电器店", "electronics shop", 4, 150_000),
    ("8062", "医院", "hospital", 4, 22_000),
)


@dataclass(frozen=True, slots=True)
class Merchant:
    merchant_id: str
    name: str
    mcc: str
    area: str
    mean_ticket: int


@dataclass(frozen=True, slots=True)
class TerminalSpec:
    terminal_id: str
    merchant_id: str
    brand: str
    model: str
    firmware: str
    area: str
    host: str
    install_date: date
    warranty_end: date


@dataclass(frozen=True, slots=True)
class Estate:
    merchants: tuple[Merchant, ...]
    terminals: tuple[TerminalSpec, ...]
    seed: int

    def merchant(self, merchant_id: str) -> Merchant:
        """The merchant with this id (KeyError when unknown)."""
        return next(m for m in self.merchants if m.merchant_id == merchant_id)


def _pick(rng: random.Random, items: tuple[T, ...], weights: list[int]) -> T:
    return rng.choices(items, weights=weights, k=1)[0]


def build_estate(*, terminals: int, seed: int = 1, today: date | None = None) -> Estate:
    """Draw an estate of ``terminals`` terminals; shops have 1-3 terminals each."""
    if terminals < 1:
        raise ValueError("an estate needs at least one terminal")
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not cryptography
    today = today or date(2026, 11, 25)
    area_w = [w for _, w in AREAS]
    model_w = [w for *_, w, _ in MODELS]
    kind_w = [k[3] for k in MERCHANT_KINDS]
    merchants: list[Merchant] = []
    specs: list[TerminalSpec] = []
    while len(specs) < terminals:
        area = _pick(rng, tuple(a for a, _ in AREAS), area_w)
        mcc, kind_zh, _kind_en, _, ticket = _pick(rng, MERCHANT_KINDS, kind_w)
        mid = f"898{area_code(area)}{mcc}{len(merchants) + 1:06d}"
        merchant = Merchant(
            mid, f"{area.split('-')[1]}{kind_zh}{len(merchants) + 1}号店", mcc, area, ticket
        )
        merchants.append(merchant)
        for _ in range(min(rng.choice((1, 1, 1, 2, 2, 3)), terminals - len(specs))):
            brand, model, _, firmware = _pick(rng, MODELS, model_w)
            installed = today - timedelta(days=rng.randint(30, 5 * 365))
            specs.append(
                TerminalSpec(
                    terminal_id=f"T{len(specs) + 1:07d}",
                    merchant_id=mid,
                    brand=brand,
                    model=model,
                    firmware=firmware,
                    area=area,
                    host=AREA_HOST[area],
                    install_date=installed,
                    warranty_end=installed + timedelta(days=3 * 365),
                )
            )
    return Estate(tuple(merchants), tuple(specs), seed)


def area_code(area: str) -> str:
    """A stable 2-digit code for an area (used inside 15-character merchant ids).

    >>> area_code("上海-浦东"), area_code("nowhere")
    ('01', '99')
    """
    names = [a for a, _ in AREAS]
    return f"{names.index(area) + 1:02d}" if area in names else "99"
