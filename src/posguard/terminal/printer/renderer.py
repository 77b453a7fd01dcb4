"""The pure receipt renderer: :class:`ReceiptData` + :class:`PrinterProfile` -> ESC/POS bytes.

No I/O: the same receipt and profile always give the same bytes, which is what the
golden files in ``tests/terminal/data`` pin down.

The bytes, in order (hex):

=================  ==========================================================
``1B 40``          ESC @   initialise the printer (clears modes left by others)
``1B 74 00``       ESC t 0 single-byte code table PC437 (ASCII part)
``1C 26``          FS &    Chinese (double-byte) mode on -- GBK profiles only;
                   from here a byte 0x81..0xFE starts a two-byte GBK character
``1B 61 n``        ESC a n alignment: 0 left, 1 centre
``1D 21 n``        GS ! n  character size: 0x00 normal, 0x01 double height,
                   0x11 double width and height (applies to Chinese characters too)
``1B 45 n``        ESC E n emphasis (bold) off/on
``0A``             LF      print the line
``1B 64 n``        ESC d n feed n lines
``1D 56 41 n``     GS V A n feed n and full cut      (profile cutter: full)
``1D 56 42 n``     GS V B n feed n and partial cut   (profile cutter: partial)
``1C 2E``          FS .    Chinese mode off (GBK profiles), printer left clean
=================  ==========================================================

Text is encoded with the profile's code page (GBK or PC437); a character the page
lacks prints as ``?``, which is exactly what a wrong profile looks like on paper.
Chinese characters take two columns: lines are laid out by display width.

>>> from datetime import datetime
>>> from posguard.terminal.printer.profiles import load_profile
>>> r = ReceiptData(merchant_name="Shop", merchant_id="123456789012345", terminal_id="T0000001",
...     operator="01", txn_type="sale", masked_pan="621234******1232", card_brand="unionpay",
...     entry_mode="chip", amount_minor=1234, currency="CNY", batch="000001", stan="000123",
...     rrn="123456789012", auth_code="AB1234", ts=datetime(2026, 11, 25, 10, 0, 0))
>>> data = ReceiptRenderer(load_profile("generic-58-gbk")).render(r)
>>> data[:7].hex(" ")
'1b 40 1b 74 00 1c 26'
>>> "12.34".encode() in data and "商户存根".encode("gbk") in data
True
>>> format_amount(1234, "CNY"), format_amount(5, "CNY", negative=True)
('RMB 12.34', 'RMB -0.05')
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from posguard.iso8583.operations import OPERATIONS, Side, TxnKind
from posguard.terminal.printer.profiles import PrinterProfile
from posguard.terminal.printer.receipt import ReceiptData

ESC: Final = b"\x1b"
GS: Final = b"\x1d"
FS: Final = b"\x1c"
INIT: Final = ESC + b"@"
CODE_TABLE_PC437: Final = ESC + b"t\x00"
CHINESE_ON: Final = FS + b"&"
CHINESE_OFF: Final = FS + b"."
ALIGN_LEFT: Final = ESC + b"a\x00"
ALIGN_CENTER: Final = ESC + b"a\x01"
SIZE_NORMAL: Final = GS + b"!\x00"
SIZE_DOUBLE_HEIGHT: Final = GS + b"!\x01"
SIZE_DOUBLE: Final = GS + b"!\x11"
BOLD_ON: Final = ESC + b"E\x01"
BOLD_OFF: Final = ESC + b"E\x00"
LF: Final = b"\n"
CUT_FULL: Final = GS + b"VA"
CUT_PARTIAL: Final = GS + b"VB"

_CURRENCY_SYMBOL: Final = {"CNY": "RMB", "156": "RMB", "HKD": "HKD", "USD": "USD"}

# txn_type (a TxnKind value, or the fault slip's "reversal_failed") -> (zh, en).
# Types not listed print their name in capitals.
_TXN_LABEL: Final = {
    TxnKind.SALE: ("消费", "SALE"),
    "reversal_failed": ("冲正失败", "REVERSAL FAILED"),
    TxnKind.VOID: ("消费撤销", "VOID"),
    TxnKind.REFUND: ("退货", "REFUND"),
    TxnKind.PREAUTH: ("预授权", "PRE-AUTH"),
    TxnKind.PREAUTH_VOID: ("预授权撤销", "PRE-AUTH VOID"),
    TxnKind.COMPLETION: ("预授权完成", "AUTH COMPLETE"),
    TxnKind.COMPLETION_VOID: ("预授权完成撤销", "AUTH COMPLETE VOID"),
    TxnKind.BALANCE: ("余额查询", "BALANCE"),
}


def prints_negative(kind: TxnKind) -> bool:
    """A slip shows its amount negative when the operation gives money back: it counts into
    the credit total of settlement (the refund), or it cancels an earlier transaction (the
    voids). Read from the operation table, not kept here."""
    return OPERATIONS[kind].side is Side.CREDIT or kind.cancels_original


_NEGATIVE_TYPES: Final = frozenset(kind.value for kind in TxnKind if prints_negative(kind))
_ENTRY_MARK: Final = {
    "chip": "I",
    "swipe": "S",
    "contactless": "C",
    "manual": "M",
    "keyed": "M",
    "fallback": "F",
}

_LABELS: Final = {
    "title": ("POS签购单", "POS SALES SLIP"),
    "merchant": ("商户存根", "MERCHANT COPY"),
    "cardholder": ("持卡人存根", "CARDHOLDER COPY"),
    "merchant_name": ("商户名称", "MERCHANT NAME"),
    "merchant_id": ("商户编号", "MERCHANT NO"),
    "terminal_id": ("终端编号", "TERMINAL NO"),
    "operator": ("操作员", "OPERATOR"),
    "card_no": ("卡号", "CARD NO"),
    "brand": ("卡组织", "CARD BRAND"),
    "txn_type": ("交易类型", "TRANS TYPE"),
    "batch": ("批次号", "BATCH NO"),
    "stan": ("凭证号", "VOUCHER NO"),
    "auth_code": ("授权码", "AUTH NO"),
    "rrn": ("参考号", "REF NO"),
    "datetime": ("日期/时间", "DATE/TIME"),
    "original": ("原参考号", "ORIG REF NO"),
    "amount": ("金额", "AMOUNT"),
    "reprint": ("重打印", "REPRINT"),
    "training": ("培训 非真实交易", "TRAINING - NOT A PAYMENT"),
    "signature": ("持卡人签名", "CARDHOLDER SIGNATURE"),
    "confirm": (
        "本人确认以上交易，同意将其记入本卡账户",
        "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
    ),
}


def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes on the printer: wide (CJK) characters take two."""
    return sum(_char_width(ch) for ch in text)


def format_amount(amount_minor: int, currency: str, *, negative: bool = False) -> str:
    """Yuan with two decimals, from fen: ``1234`` -> ``RMB 12.34``."""
    sign = "-" if negative and amount_minor else ""
    symbol = _CURRENCY_SYMBOL.get(currency, currency)
    return f"{symbol} {sign}{amount_minor // 100}.{amount_minor % 100:02d}"


def _wrap(text: str, width: int) -> list[str]:
    """Split ``text`` into lines of at most ``width`` display columns.

    Breaks at a space when there is one in reach (English words stay whole), else
    between characters (Chinese has no spaces; never inside a character).

    >>> _wrap("I ACKNOWLEDGE SATISFACTORY RECEIPT", 16)
    ['I ACKNOWLEDGE', 'SATISFACTORY', 'RECEIPT']
    """
    lines: list[str] = []
    current = ""
    used = 0
    for ch in text:
        w = _char_width(ch)
        if used + w <= width:
            current += ch
            used += w
            continue
        cut = current.rfind(" ")
        if ch != " " and cut > 0:
            lines.append(current[:cut].rstrip())
            current = current[cut + 1 :] + ch
        else:
            lines.append(current.rstrip())
            current = "" if ch == " " else ch
        used = display_width(current)
    if current or not lines:
        lines.append(current)
    return lines


@dataclass(frozen=True, slots=True)
class ReceiptRenderer:
    """Renders :class:`ReceiptData` for one :class:`PrinterProfile`; pure and thread-safe."""

    profile: PrinterProfile
    feed_before_cut: int = 4

    @property
    def columns(self) -> int:
        return self.profile.columns

    def _label(self, key: str) -> str:
        zh, en = _LABELS[key]
        return f"{zh} {en}" if self.profile.chinese else en

    def _enc(self, text: str) -> bytes:
        return text.encode(self.profile.encoding, errors="replace")

    def _line(self, text: str = "") -> bytes:
        return b"".join(self._enc(part) + LF for part in _wrap(text, self.columns))

    def _pair(self, label: str, value: str) -> bytes:
        """``label:`` and ``value`` on one line when they fit, else value right-aligned below."""
        head = f"{label}:"
        gap = self.columns - display_width(head) - display_width(value)
        if gap >= 1:
            return self._line(head + " " * gap + value)
        out = self._line(head)
        for part in _wrap(value, self.columns):
            out += self._line(" " * (self.columns - display_width(part)) + part)
        return out

    def _rule(self) -> bytes:
        return self._line("-" * self.columns)

    def _centered(self, text: str, size: bytes = SIZE_NORMAL) -> bytes:
        return ALIGN_CENTER + size + self._line(text) + SIZE_NORMAL + ALIGN_LEFT

    def _txn_label(self, txn_type: str) -> str:
        zh, en = _TXN_LABEL.get(txn_type, ("", txn_type.upper().replace("_", " ")))
        return f"{zh} {en}".strip() if self.profile.chinese else en

    def _body(self, r: ReceiptData) -> Iterable[bytes]:
        if self.profile.chinese:
            yield self._centered(_LABELS["title"][0], SIZE_DOUBLE)
        yield self._centered(_LABELS["title"][1], SIZE_DOUBLE_HEIGHT)
        yield self._centered(self._label(r.copy))
        if r.training:
            yield from self._training_banner()
        if r.reprint:
            yield BOLD_ON + self._centered(f"*** {self._label('reprint')} ***") + BOLD_OFF
        yield self._rule()
        yield self._line(f"{self._label('merchant_name')}:")
        yield self._line(f"  {r.merchant_name}")
        yield self._pair(self._label("merchant_id"), r.merchant_id)
        yield self._pair(self._label("terminal_id"), r.terminal_id)
        yield self._pair(self._label("operator"), r.operator)
        yield self._rule()
        mark = _ENTRY_MARK.get(r.entry_mode, r.entry_mode[:1].upper())
        yield self._line(f"{self._label('card_no')}:")
        yield BOLD_ON + self._line(f"  {r.masked_pan} /{mark}") + BOLD_OFF
        yield self._pair(self._label("brand"), r.card_brand.upper())
        yield self._pair(self._label("txn_type"), self._txn_label(r.txn_type))
        yield self._pair(self._label("batch"), r.batch)
        yield self._pair(self._label("stan"), r.stan)
        if r.auth_code:
            yield self._pair(self._label("auth_code"), r.auth_code)
        yield self._pair(self._label("rrn"), r.rrn)
        yield self._pair(self._label("datetime"), r.ts.strftime("%Y/%m/%d %H:%M:%S"))
        if r.original:
            yield self._pair(self._label("original"), r.original)
        yield self._line(f"{self._label('amount')}:")
        amount = format_amount(r.amount_minor, r.currency, negative=r.txn_type in _NEGATIVE_TYPES)
        yield ALIGN_CENTER + SIZE_DOUBLE + BOLD_ON + self._enc(amount) + LF
        yield BOLD_OFF + SIZE_NORMAL + ALIGN_LEFT
        yield self._rule()
        if r.copy == "merchant":
            yield self._line(f"{self._label('signature')}:")
            yield LF + LF
            yield self._line("_" * self.columns)
            zh, en = _LABELS["confirm"]
            if self.profile.chinese:
                yield self._line(zh)
            yield self._line(en)
        if r.reprint:
            yield BOLD_ON + self._centered(f"*** {self._label('reprint')} ***") + BOLD_OFF
        if r.training:
            yield from self._training_banner()

    def _training_banner(self) -> Iterable[bytes]:
        """培训 (on a Chinese printer) and TRAINING, large, at the top and the bottom: whoever
        holds the slip must see it is not a payment."""
        zh, en = _LABELS["training"]
        if self.profile.chinese:
            yield BOLD_ON + self._centered(f"*** {zh} ***", SIZE_DOUBLE_HEIGHT) + BOLD_OFF
        yield BOLD_ON + self._centered(f"*** {en} ***", SIZE_DOUBLE_HEIGHT) + BOLD_OFF

    def _cut(self) -> bytes:
        n = bytes([self.feed_before_cut])
        if self.profile.cutter == "full":
            return CUT_FULL + n
        if self.profile.cutter == "partial":
            return CUT_PARTIAL + n
        return ESC + b"d" + n  # tear bar: feed the slip past it, no cut command

    def _framed(self, body: bytes) -> bytes:
        head = INIT + CODE_TABLE_PC437 + (CHINESE_ON if self.profile.chinese else b"")
        tail = self._cut() + (CHINESE_OFF if self.profile.chinese else b"")
        return head + body + tail

    def render(self, receipt: ReceiptData) -> bytes:
        """One copy of a slip, from initialise to cut."""
        return self._framed(b"".join(self._body(receipt)))

    def render_lines(self, lines: Iterable[str]) -> bytes:
        """A short slip of centred lines (the doctor's test print), framed and cut like a
        receipt: initialise, code page, the profile's cutter."""
        return self._framed(b"".join(self._centered(line) for line in lines))

    def render_pair(self, receipt: ReceiptData) -> bytes:
        """Merchant copy then cardholder copy, each cut (what a sale prints)."""
        return self.render(receipt.as_copy("merchant")) + self.render(receipt.as_copy("cardholder"))
