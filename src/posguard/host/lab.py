"""What the lab host offers a new user: its terminals, merchants and test cards, read from the
seed (never from a host database), each card with what it is for and the response code it is
there to show (the purpose says when: the poor card's 51 needs a sale above its balance).

Card numbers are masked here (first 6 / last 4): the full lab numbers are documented test
data in ``host/data/seed.yaml`` (``posguard host seed``).

>>> from datetime import date
>>> from posguard.host.seed import default_seed
>>> view = lab_view(default_seed(), date(2026, 12, 1))
>>> good = view.cards[0]
>>> good.pan_masked, good.rc, good.purpose.en
('621483*********0015', '00', 'approves a sale (up to 10,000.00 a sale)')
>>> [c.rc for c in view.cards if c.balance == 10_000]
['51']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from posguard.card import mask_pan
from posguard.common.lab import LAB_TERMINAL
from posguard.host.seed import CardSeed, SeedData, TerminalSeed

__all__ = ["LabCard", "LabView", "Purpose", "lab_view"]

LOW_BALANCE = 50_000
"""Below this balance (fen) a card is the lab's insufficient-funds card (51)."""

# Status -> (response code, zh, en). The issuer's decline codes for a card's status.
_STATUS = {
    "lost": ("41", "挂失卡：主机拒绝 41", "lost card: the host declines 41"),
    "stolen": ("43", "被盗卡：主机拒绝 43", "stolen card: the host declines 43"),
    "restricted": ("62", "受限卡：主机拒绝 62", "restricted card: the host declines 62"),
    "blocked": ("57", "持卡人不允许该交易：主机拒绝 57", "blocked for the cardholder: declines 57"),
}
_BIN_DOWN = {
    "91": ("发卡行不可用：主机应答 91", "issuer unavailable: the host answers 91"),
    "98": ("发卡行超时：主机应答 98", "issuer timed out: the host answers 98"),
}


@dataclass(frozen=True, slots=True)
class Purpose:
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, slots=True)
class LabCard:
    pan_masked: str
    expiry: str  # YYMM
    balance: int  # fen, of the card's account
    currency: str
    status: str
    online_pin: str
    rc: str  # the response code the card is there to show
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class LabTerminalRow:
    tid: str
    mid: str
    merchant: str
    registered: bool
    mac: str
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class LabMerchantRow:
    mid: str
    name: str
    mcc: str
    status: str


@dataclass(frozen=True, slots=True)
class LabView:
    terminals: list[LabTerminalRow]
    merchants: list[LabMerchantRow]
    cards: list[LabCard]


def _money(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _expired(yymm: str, today: date) -> bool:
    return (2000 + int(yymm[:2]), int(yymm[2:])) < (today.year, today.month)


def _purpose(card: CardSeed, seed: SeedData, today: date) -> tuple[str, Purpose]:
    """(response code of a plain sale, what the card is for), in the issuer's order of checks."""
    down = next((b for b in seed.unavailable_bins if card.pan.startswith(b.prefix)), None)
    if down is not None:
        zh, en = _BIN_DOWN.get(
            down.rc, (f"发卡行不可用：主机应答 {down.rc}", f"issuer down: answers {down.rc}")
        )
        return down.rc, Purpose(zh, en)
    if card.status in _STATUS:
        rc, zh, en = _STATUS[card.status]
        return rc, Purpose(zh, en)
    if _expired(card.expiry, today):
        return "54", Purpose("过期卡：主机拒绝 54", "expired card: the host declines 54")
    if card.online_pin != "never":
        return "55", Purpose(
            "需联机 PIN（磁条与接触芯片）：不带 PIN 的消费得到 55",
            "needs an online PIN (stripe and contact chip): a sale without one gets 55",
        )
    account = next(a for a in seed.accounts if a.id == card.account)
    if account.balance < LOW_BALANCE:
        limit = _money(account.balance)
        return "51", Purpose(
            f"余额不足卡：超过 {limit} 的消费被拒 51",
            f"poor card: a sale above {limit} is declined 51",
        )
    if card.pin_tries:
        return "75", Purpose(
            "仅剩一次 PIN 机会：再输错一次 PIN 即 75",
            "one PIN try left: one more wrong PIN gives 75",
        )
    limit = _money(account.txn_limit)
    return "00", Purpose(
        f"正常卡：消费批准（单笔上限 {limit}）", f"approves a sale (up to {limit} a sale)"
    )


def _terminal(t: TerminalSeed, active: set[str]) -> Purpose:
    if t.tid == LAB_TERMINAL.terminal_id:
        return Purpose(
            "实验终端：terminal init 写它的配置",
            "the lab terminal: terminal init writes its config",
        )
    if not t.registered:
        return Purpose("未登记：签到被拒 97", "not registered: sign-on declined 97")
    if t.mid not in active:
        return Purpose("商户已停用：交易被拒 03", "merchant not active: declined 03")
    return Purpose("已登记", "registered")


def lab_view(seed: SeedData, today: date) -> LabView:
    """The lab's terminals, merchants and cards (masked) from ``seed``."""
    names = {m.mid: m.name for m in seed.merchants}
    balances = {a.id: (a.balance, a.currency) for a in seed.accounts}
    cards = []
    for c in seed.cards:
        rc, purpose = _purpose(c, seed, today)
        balance, currency = balances[c.account]
        cards.append(
            LabCard(
                pan_masked=mask_pan(c.pan),
                expiry=c.expiry,
                balance=balance,
                currency=currency,
                status=c.status,
                online_pin=c.online_pin,
                rc=rc,
                purpose=purpose,
            )
        )
    active = {m.mid for m in seed.merchants if m.status == "active"}
    return LabView(
        terminals=[
            LabTerminalRow(
                t.tid, t.mid, names.get(t.mid, ""), t.registered, t.mac, _terminal(t, active)
            )
            for t in seed.terminals
        ],
        merchants=[LabMerchantRow(m.mid, m.name, m.mcc, m.status) for m in seed.merchants],
        cards=cards,
    )
