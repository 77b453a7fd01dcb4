"""The operating manual's content (操作手册), built from the exception catalog and the terminal's
flows for one terminal model and one merchant type; bilingual throughout.

Sections: daily checks; the operations of that merchant type (pre-authorisation only where it
is used: hotels, petrol stations, car hire); the four common exceptions (no connection to the
host, frozen or black screen, the payment fails, the slip will not print), each with every
catalog entry of its kind and its steps; what each screen message or response code means; and
how to avoid the operator errors the terminal reports. Every text comes from the catalog except
the operations, which state the terminal's own rules (void on the day, refund afterwards,
settle at the end of the day, practise in training mode).

>>> m = build_manual(default_catalog(), model="A920", merchant_type="7011")
>>> m.model.brand, m.merchant.en, [s.key for s in m.sections][:3]
('PAX', 'hotel', ['daily', 'operations', 'exceptions'])
>>> "preauth" in [op.key for op in m.operations]
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from posguard.catalog import default_catalog
from posguard.catalog.model import Audience, Category, Entry
from posguard.catalog.text import Text
from posguard.common.errors import ConfigError
from posguard.sim.population import MERCHANT_KINDS, MODELS

__all__ = ["Manual", "build_manual", "default_catalog"]

# (key, zh, en, codes): the four exceptions that cost most (README), in that order.
FOUR_EXCEPTIONS: Final = (
    (
        "no_host",
        "终端连不上主机",
        "The terminal cannot reach the host",
        (
            "NET.CONNECT_TIMEOUT",
            "NET.CONNECT_REFUSED",
            "NET.NO_ROUTE",
            "NET.DNS_FAILURE",
            "NET.WEAK_SIGNAL",
            "NET.HOST_UNREACHABLE",
            "CFG.NOT_SIGNED_ON",
        ),
    ),
    (
        "frozen",
        "终端死机或黑屏",
        "The terminal freezes or the screen goes black",
        ("DEV.FREEZE", "DEV.BLACK_SCREEN", "DEV.POWER_LOSS", "SW.CRASH"),
    ),
    (
        "txn_failed",
        "交易失败",
        "The payment fails",
        (
            "NET.READ_TIMEOUT",
            "TXN.INSUFFICIENT_FUNDS",
            "TXN.WRONG_PIN",
            "TXN.EXPIRED_CARD",
            "TXN.DO_NOT_HONOR",
            "TXN.ISSUER_UNAVAILABLE",
            "RECON.REVERSAL_PENDING",
        ),
    ),
    (
        "no_slip",
        "小票打不出来",
        "The slip will not print",
        ("PRN.PAPER_OUT", "PRN.COVER_OPEN", "PRN.OFFLINE", "PRN.CUTTER_JAM", "PRN.QUEUE_STUCK"),
    ),
)
DAILY_CHECKS: Final = ("PRN.PAPER_LOW", "CFG.NOT_SIGNED_ON", "NET.WEAK_SIGNAL", "RECON.BATCH_FULL")
PREAUTH_MERCHANTS: Final = frozenset({"7011", "5541", "7512"})
# Smart POS (Android, built-in printer) or countertop; paper width of the built-in printer.
_MODEL_KIND: Final = {
    "A920": ("smart", 58),
    "S90": ("countertop", 58),
    "N910": ("smart", 58),
    "ME31": ("smart", 58),
    "A8": ("smart", 58),
    "E350": ("countertop", 58),
    "K9": ("smart", 58),
    "VX520": ("countertop", 57),
    "G2": ("countertop", 58),
}


@dataclass(frozen=True, slots=True)
class Model:
    brand: str
    model: str
    smart: bool
    paper_mm: int


@dataclass(frozen=True, slots=True)
class Operation:
    key: str
    title: Text
    steps: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Catalog entries under one heading (one of the four exceptions, or one topic)."""

    key: str
    title: Text
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: Text


@dataclass(frozen=True, slots=True)
class Manual:
    model: Model
    merchant_type: str
    merchant: Text
    sections: tuple[Section, ...]
    daily: tuple[Entry, ...]
    operations: tuple[Operation, ...]
    exceptions: tuple[Group, ...]
    messages: tuple[Entry, ...]  # what a screen message or response code means
    operator: tuple[Entry, ...]
    catalog_size: int


def _t(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


SECTIONS: Final = (
    Section("daily", _t("每日检查", "Daily checks")),
    Section("operations", _t("常用操作", "Everyday operations")),
    Section("exceptions", _t("四类常见异常怎么办", "The four common exceptions")),
    Section("messages", _t("屏幕提示和返回码的意思", "What the screen messages and codes mean")),
    Section("operator", _t("避免操作差错", "Avoiding operator errors")),
)


def _operations(merchant_type: str, model: Model) -> tuple[Operation, ...]:
    ops = [
        Operation(
            "sale",
            _t("消费", "Sale"),
            (
                _t(
                    "按【消费】，输入金额，请顾客核对后确认。",
                    "Press Sale, key the amount, let the cardholder check it, confirm.",
                ),
                _t(
                    "请顾客插卡、挥卡或刷卡；需要时请顾客自己输入密码。",
                    "Let the cardholder insert, tap or swipe; the "
                    "cardholder keys the PIN where asked.",
                ),
                _t(
                    "打印签购单：商户联请顾客签名，持卡人联交给顾客。",
                    "The slip prints: the cardholder signs the merchant "
                    "copy and keeps the cardholder copy.",
                ),
            ),
        ),
        Operation(
            "void",
            _t("撤销（当天）", "Void (same day)"),
            (
                _t(
                    "当天结算前发现错误，用【撤销】：输入原交易的凭证号，刷原卡。",
                    "A mistake found before today's settlement: use Void, key the "
                    "original's voucher number, read the same card.",
                ),
                _t(
                    "撤销后钱马上退回顾客，不收手续费。",
                    "A void gives the money back at once, with no fee.",
                ),
            ),
        ),
        Operation(
            "refund",
            _t("退货（隔日）", "Refund (later days)"),
            (
                _t(
                    "已经结算的交易才用【退货】：输入原交易参考号和退货金额。",
                    "Use Refund only for a settled sale: key the "
                    "original's reference number and the amount.",
                ),
                _t(
                    "退货的钱要几个工作日才回到顾客账户，请告诉顾客。",
                    "Tell the cardholder a refund takes a few working days to arrive.",
                ),
            ),
        ),
    ]
    if merchant_type in PREAUTH_MERCHANTS:
        ops.append(
            Operation(
                "preauth",
                _t("预授权与预授权完成", "Pre-authorisation and completion"),
                (
                    _t(
                        "入住或加油前做【预授权】，冻结预计金额。",
                        "Before check-in or fuelling, run a "
                        "Pre-authorisation to hold the expected amount.",
                    ),
                    _t(
                        "结账时做【预授权完成】，金额不超过预授权的115%。",
                        "At checkout, run Completion, for at most 115 % "
                        "of the pre-authorised amount.",
                    ),
                    _t(
                        "顾客取消时做【预授权撤销】，解冻金额。",
                        "If the cardholder cancels, void the "
                        "pre-authorisation to release the hold.",
                    ),
                ),
            )
        )
    ops += [
        Operation(
            "settle",
            _t("结算（每天营业结束）", "Settlement (every day at closing)"),
            (
                _t(
                    "营业结束按【结算】；提示“对账平”即完成。",
                    "At closing press Settlement; 'balanced' means done.",
                ),
                _t(
                    "提示“对账不平”时终端会自动上送明细，等待完成后再关机。",
                    "If it says 'out of balance', the terminal uploads the details by "
                    "itself; wait until it finishes before switching off.",
                ),
            ),
        ),
        Operation(
            "training",
            _t("培训模式练习", "Practise in training mode"),
            (
                _t(
                    "新员工先进入培训模式练习：练习交易不扣款，小票印有“培训”。",
                    "New staff practise in training mode first: practice payments "
                    "charge nobody and the slip says TRAINING.",
                ),
                _t(
                    "练习完一定退出培训模式再做真实交易。",
                    "Always leave training mode before taking real payments.",
                ),
            ),
        ),
    ]
    if model.smart:
        ops[0] = Operation(
            "sale",
            ops[0].title,
            (
                *ops[0].steps,
                _t(
                    "智能终端可在收银应用里直接发起消费，金额自动带入。",
                    "On a smart terminal, start the sale from the till "
                    "app; the amount comes across by itself.",
                ),
            ),
        )
    return tuple(ops)


def _entries(catalog: Mapping[str, Entry], codes: tuple[str, ...]) -> tuple[Entry, ...]:
    return tuple(catalog[c] for c in codes if c in catalog)


def build_manual(catalog: Mapping[str, Entry], *, model: str, merchant_type: str) -> Manual:
    """The manual for one terminal model (e.g. ``A920``) and merchant type (MCC, e.g.
    ``5411``); ConfigError naming the one that is unknown."""
    found = next((m for m in MODELS if m[1] == model), None)
    if found is None:
        known = ", ".join(m[1] for m in MODELS)
        raise ConfigError(f"manual: unknown terminal model {model!r}; one of {known}")
    kind = next((k for k in MERCHANT_KINDS if k[0] == merchant_type), None)
    if kind is None:
        known = ", ".join(f"{k[0]} ({k[2]})" for k in MERCHANT_KINDS)
        raise ConfigError(f"manual: unknown merchant type {merchant_type!r}; one of {known}")
    smart, paper = _MODEL_KIND.get(model, ("countertop", 58))
    term = Model(found[0], model, smart == "smart", paper)
    groups = tuple(
        Group(key, _t(zh, en), _entries(catalog, codes)) for key, zh, en, codes in FOUR_EXCEPTIONS
    )
    messages = tuple(
        e
        for e in catalog.values()
        if Audience.MERCHANT in e.audience and e.category is not Category.OPERATOR
    )
    operator = tuple(e for e in catalog.values() if e.category is Category.OPERATOR)
    return Manual(
        model=term,
        merchant_type=merchant_type,
        merchant=_t(kind[1], kind[2]),
        sections=SECTIONS,
        daily=_entries(catalog, DAILY_CHECKS),
        operations=_operations(merchant_type, term),
        exceptions=groups,
        messages=messages,
        operator=operator,
        catalog_size=len(catalog),
    )
