"""Field 39 response codes: action class, flags and screen text.

Action classes follow the manner of UnionPay's response-code appendix:

- A: approved (``00``, ``11``; ``10`` partial; ``A2``-``A6`` defective success);
- B: failed, the same transaction may be retried (later, or with a corrected PIN);
- C: failed, do not retry this card/transaction;
- D: failed, the operator (merchant, ops) must act first;
- E: system fault (host, MAC, format, keys).

The catalog code a response code maps to is *not* kept here: it comes from the exception
catalog (``iso_response_codes`` of its entries, :meth:`Catalog.by_response_code`). Unknown
or malformed codes never raise: they are class E "unknown response", handled as
``TXN.HOST_ERROR``.

>>> rc = lookup("55")
>>> rc.action, rc.catalog_code, rc.approved, rc.text["en"]
(<ActionClass.B: 'B'>, 'TXN.WRONG_PIN', False, 'Incorrect PIN, please try again')
>>> lookup("A0").needs_sign_on, lookup("A0").reversal_due
(True, False)
>>> lookup("11").approved, lookup("A2").defective, lookup("10").partial
(True, True, True)
>>> lookup("Z9").action, lookup("Z9").catalog_code
(<ActionClass.E: 'E'>, 'TXN.HOST_ERROR')
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from posguard.catalog.loader import default_catalog

UNKNOWN_CATALOG_CODE = "TXN.HOST_ERROR"


class ActionClass(enum.Enum):
    A = "A"  # approved
    B = "B"  # failed, retry allowed
    C = "C"  # failed, do not retry
    D = "D"  # operator must act
    E = "E"  # system fault


@dataclass(frozen=True, slots=True)
class ResponseCode:
    rc: str
    action: ActionClass
    fixed_code: str | None  # the catalog code of a code the table does not know
    needs_sign_on: bool = False
    reversal_due: bool = False
    text: Mapping[str, str] = field(default_factory=dict)
    known: bool = True

    @property
    def catalog_code(self) -> str | None:
        """The catalog entry that owns this code (read from the catalog when first asked, so
        the hot path of an approval never loads it)."""
        if not self.known:
            return self.fixed_code
        if self.action is ActionClass.A and not self.defective:
            return None  # a plain approval is no fault (checked against the catalog by a test)
        return _catalog_code(self.rc)

    @property
    def approved(self) -> bool:
        return self.action is ActionClass.A

    @property
    def defective(self) -> bool:
        """Approved, but the operator must confirm with the issuer (A2, A4, A5, A6)."""
        return self.rc in DEFECTIVE_SUCCESS

    @property
    def partial(self) -> bool:
        """Approved for the amount in field 4 of the answer (10)."""
        return self.rc == PARTIAL_APPROVAL

    @property
    def retry_allowed(self) -> bool:
        return self.action is ActionClass.B


A, B, C, D, E = ActionClass.A, ActionClass.B, ActionClass.C, ActionClass.D, ActionClass.E
_DEFECTIVE_CODES = ("A2", "A4", "A5", "A6")  # "defective success": one text, one set

# rc: (class, needs_sign_on, zh, en). No field-39 code makes a reversal due: a host that
# answers has decided, and nothing it declined was charged (reversals come from the terminal's
# own failures: no answer, a bad MAC on an approval, an approval it could not complete).
_TABLE: dict[str, tuple[ActionClass, bool, str, str]] = {
    "00": (A, False, "交易成功", "Approved"),
    "10": (A, False, "部分金额批准，请按批准金额收款", "Approved for a partial amount"),
    "11": (A, False, "交易成功（VIP）", "Approved (VIP)"),
    **dict.fromkeys(
        _DEFECTIVE_CODES,
        (A, False, "交易成功，请向发卡行确认", "Approved with a defect: confirm with the issuer"),
    ),
    "01": (C, False, "请持卡人与发卡银行联系", "Refer to card issuer"),
    "03": (C, False, "无效商户，请联系收单机构", "Invalid merchant, call your acquirer"),
    "04": (D, False, "没收卡，请联系收单行", "Pick up card, call the acquirer"),
    "05": (C, False, "发卡行拒绝交易", "Declined by the issuer (do not honour)"),
    "06": (
        E,
        False,
        "交易出错，未扣款，请勿重试，联系收单机构",
        "Error, not charged: do not retry, call the acquirer",
    ),
    "12": (C, False, "无效交易", "Invalid transaction"),
    "13": (B, False, "无效金额，请核对金额后重试", "Invalid amount, check it and try again"),
    "14": (B, False, "无效卡号，请重新读卡", "Invalid card number, read the card again"),
    "15": (C, False, "此卡无对应发卡方", "No such issuer"),
    "22": (
        C,
        False,
        "交易异常，请勿重试，联系收单机构",
        "Suspected malfunction: do not retry, call the acquirer",
    ),
    "25": (C, False, "找不到原始交易", "Original transaction not found"),
    "30": (
        E,
        False,
        "报文格式错误，请勿重试，联系收单机构",
        "Message format error: do not retry, call the acquirer",
    ),
    "33": (D, False, "过期卡，请没收", "Expired card, pick up"),
    "34": (D, False, "有作弊嫌疑，请没收", "Suspected fraud, pick up"),
    "38": (D, False, "密码错误次数超限，请没收", "PIN tries exceeded, pick up"),
    "40": (C, False, "发卡方不支持的交易", "Function not supported by the issuer"),
    "41": (D, False, "挂失卡，请没收", "Lost card, pick up"),
    "43": (D, False, "被窃卡，请没收", "Stolen card, pick up"),
    "45": (C, False, "不允许降级交易，请插卡", "Fallback not allowed, insert the chip card"),
    "51": (C, False, "余额不足", "Insufficient funds"),
    "54": (C, False, "卡已过期", "Expired card"),
    "55": (B, False, "密码错误，请重新输入", "Incorrect PIN, please try again"),
    "57": (C, False, "不允许持卡人进行此交易", "Transaction not permitted to cardholder"),
    "58": (D, False, "不允许此终端进行此交易", "Transaction not permitted to terminal"),
    "59": (D, False, "有作弊嫌疑", "Suspected fraud"),
    "61": (C, False, "超出金额限制", "Exceeds amount limit"),
    "62": (C, False, "受限制的卡", "Restricted card"),
    "64": (C, False, "原始金额错误", "Original amount incorrect"),
    "65": (C, False, "超出取款或消费次数限制", "Exceeds frequency limit"),
    "68": (B, False, "交易超时，未扣款，请重试", "Answer came too late, not charged: try again"),
    "75": (D, False, "密码错误次数超限", "PIN tries exceeded"),
    "77": (D, True, "终端已重新签到，请重试交易", "Signed on again: please retry the sale"),
    "90": (B, False, "日切处理中，请稍后重试", "Cut-off in progress, try again shortly"),
    "91": (B, False, "发卡方不能操作，请稍后重试", "Issuer unavailable, try again later"),
    "92": (B, False, "发卡方线路异常，请稍后重试", "Issuer unreachable, try again later"),
    "94": (C, False, "重复交易", "Duplicate transaction"),
    "95": (D, False, "结算不平，请上送批次明细", "Settlement out of balance, upload batch"),
    "96": (
        E,
        False,
        "系统故障，交易失败，未扣款，请勿重试",
        "System malfunction, not charged: do not retry",
    ),
    "97": (D, False, "终端未登记，请联系收单机构", "Terminal not registered, call acquirer"),
    "98": (E, False, "发卡方超时，交易失败，未扣款", "Issuer timed out: declined, not charged"),
    "99": (E, True, "PIN格式错误，终端已重新签到", "PIN format error, signed on again"),
    "A0": (
        E,
        True,
        "MAC校验错，终端已重新签到，请重试",
        "MAC check failed, signed on again: retry",
    ),
}

DEFECTIVE_SUCCESS = frozenset(_DEFECTIVE_CODES)
"""Approved, but "defective success" (有缺陷的成功): complete the sale, print the receipt and
tell the operator to confirm with the issuer (请向发卡行确认)."""

PARTIAL_APPROVAL = "10"
"""Approved for the amount in the answer's field 4, which may be less than asked."""


@cache
def _catalog_code(rc: str) -> str | None:
    entry = default_catalog().by_response_code(rc)
    return entry.code if entry is not None else None


def known_codes() -> list[str]:
    """Every response code this module knows."""
    return sorted(_TABLE)


def lookup(rc: str) -> ResponseCode:
    """The meaning of field 39 ``rc``; unknown or malformed codes are class E."""
    key = rc.upper() if isinstance(rc, str) else ""
    if key in _TABLE:
        return _known(key)
    shown = key if key.isascii() and key.isalnum() and len(key) <= 2 else "??"
    return ResponseCode(
        rc=shown,
        action=E,
        fixed_code=UNKNOWN_CATALOG_CODE,
        text=MappingProxyType(
            {"zh": f"未知应答码（{shown}）", "en": f"Unknown response ({shown})"}
        ),
        known=False,
    )


@cache
def _known(key: str) -> ResponseCode:
    action, sign_on, zh, en = _TABLE[key]
    return ResponseCode(
        rc=key,
        action=action,
        fixed_code=None,
        needs_sign_on=sign_on,
        reversal_due=False,
        text=MappingProxyType({"zh": zh, "en": en}),
    )


NO_ANSWER = ResponseCode(
    rc="",
    action=E,
    fixed_code="NET.READ_TIMEOUT",
    reversal_due=True,
    text=MappingProxyType(
        {"zh": "主机无应答，交易将冲正", "en": "No answer from host, will be reversed"}
    ),
    known=False,
)
"""What a request that got no answer in time means: reversal due (reason ``98``)."""
