"""Field 39 response codes: action class, flags and screen text.

Action classes follow the manner of UnionPay's response-code appendix:

- A: approved;
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
(True, True)
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
    catalog_code: str | None
    needs_sign_on: bool = False
    reversal_due: bool = False
    text: Mapping[str, str] = field(default_factory=dict)
    known: bool = True

    @property
    def approved(self) -> bool:
        return self.action is ActionClass.A

    @property
    def retry_allowed(self) -> bool:
        return self.action is ActionClass.B


A, B, C, D, E = ActionClass.A, ActionClass.B, ActionClass.C, ActionClass.D, ActionClass.E

# rc: (class, needs_sign_on, reversal_due, zh, en)
_TABLE: dict[str, tuple[ActionClass, bool, bool, str, str]] = {
    "00": (A, False, False, "交易成功", "Approved"),
    "10": (A, False, False, "部分金额批准", "Approved for a partial amount"),
    "11": (A, False, False, "交易成功（VIP）", "Approved (VIP)"),
    "01": (C, False, False, "请持卡人与发卡银行联系", "Refer to card issuer"),
    "03": (D, False, False, "无效商户，请联系收单机构", "Invalid merchant, call your acquirer"),
    "04": (D, False, False, "此卡被没收，请联系发卡行", "Pick up card, call the issuer"),
    "05": (C, False, False, "发卡行拒绝交易", "Declined by the issuer (do not honour)"),
    "06": (E, False, False, "交易出错，请稍后重试", "Error, please try again later"),
    "12": (C, False, False, "无效交易", "Invalid transaction"),
    "13": (C, False, False, "无效金额", "Invalid amount"),
    "14": (C, False, False, "无效卡号", "Invalid card number"),
    "15": (C, False, False, "此卡无对应发卡方", "No such issuer"),
    "22": (E, False, False, "系统故障，请稍后重试", "Suspected malfunction, try again later"),
    "25": (C, False, False, "找不到原始交易", "Original transaction not found"),
    "30": (E, False, False, "报文格式错误", "Message format error"),
    "33": (D, False, False, "过期卡，请没收", "Expired card, pick up"),
    "34": (D, False, False, "有作弊嫌疑，请没收", "Suspected fraud, pick up"),
    "38": (D, False, False, "密码错误次数超限，请没收", "PIN tries exceeded, pick up"),
    "40": (C, False, False, "发卡方不支持的交易", "Function not supported by the issuer"),
    "41": (D, False, False, "挂失卡，请没收", "Lost card, pick up"),
    "43": (D, False, False, "被窃卡，请没收", "Stolen card, pick up"),
    "51": (C, False, False, "余额不足", "Insufficient funds"),
    "54": (C, False, False, "卡已过期", "Expired card"),
    "55": (B, False, False, "密码错误，请重新输入", "Incorrect PIN, please try again"),
    "57": (C, False, False, "不允许持卡人进行此交易", "Transaction not permitted to cardholder"),
    "58": (D, False, False, "不允许此终端进行此交易", "Transaction not permitted to terminal"),
    "59": (D, False, False, "有作弊嫌疑", "Suspected fraud"),
    "61": (C, False, False, "超出金额限制", "Exceeds amount limit"),
    "62": (C, False, False, "受限制的卡", "Restricted card"),
    "64": (C, False, False, "原始金额错误", "Original amount incorrect"),
    "65": (C, False, False, "超出取款或消费次数限制", "Exceeds frequency limit"),
    "75": (D, False, False, "密码错误次数超限", "PIN tries exceeded"),
    "77": (D, True, False, "请重新签到后再交易", "Please sign on again"),
    "90": (B, False, False, "日切处理中，请稍后重试", "Cut-off in progress, try again shortly"),
    "91": (B, False, False, "发卡方不能操作，请稍后重试", "Issuer unavailable, try again later"),
    "92": (B, False, False, "发卡方线路异常，请稍后重试", "Issuer unreachable, try again later"),
    "94": (C, False, False, "重复交易", "Duplicate transaction"),
    "95": (D, False, False, "结算不平，请上送批次明细", "Settlement out of balance, upload batch"),
    "96": (E, False, True, "系统故障，交易已冲正", "System malfunction, will be reversed"),
    "97": (D, False, False, "终端未登记，请联系收单机构", "Terminal not registered, call acquirer"),
    "98": (E, False, True, "发卡方超时，交易将冲正", "Issuer timed out, will be reversed"),
    "99": (E, True, False, "PIN格式错误，请重新签到", "PIN format error, please sign on again"),
    "A0": (E, True, True, "MAC校验错，请重新签到", "MAC check failed, please sign on again"),
}


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
        catalog_code=UNKNOWN_CATALOG_CODE,
        text=MappingProxyType(
            {"zh": f"未知应答码（{shown}）", "en": f"Unknown response ({shown})"}
        ),
        known=False,
    )


@cache
def _known(key: str) -> ResponseCode:
    action, sign_on, reversal, zh, en = _TABLE[key]
    return ResponseCode(
        rc=key,
        action=action,
        catalog_code=_catalog_code(key),
        needs_sign_on=sign_on,
        reversal_due=reversal,
        text=MappingProxyType({"zh": zh, "en": en}),
    )


NO_ANSWER = ResponseCode(
    rc="",
    action=E,
    catalog_code="NET.READ_TIMEOUT",
    reversal_due=True,
    text=MappingProxyType(
        {"zh": "主机无应答，交易将冲正", "en": "No answer from host, will be reversed"}
    ),
    known=False,
)
"""What a request that got no answer in time means: reversal due (reason ``98``)."""
