"""The labels the terminal face prints, in Chinese and English (one table, so a label is never
left in one language only). Values (``approved``, ``sale``, codes, amounts) stay as they are:
they are what scripts and support tickets quote."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "cardholder": "持卡人：",
        "merchant": "商户：  ",
        "balance": "余额：",
        "batch": "批次",
        "balanced": "已平账",
        "not_settled": "未结算",
        "debits": "借记",
        "credits": "贷记",
        "uploaded": "已上送",
        "next_batch": "下一批次",
        "host": "主机",
        "pending": "待发冲正：{0}，待发离线通知：{1}",
        "stan": "流水号",
        "type": "类型",
        "state": "状态",
        "amount": "金额",
        "card": "卡号",
        "rc": "应答码",
        "code": "代码",
        "rev": "冲正原因",
        "empty": "流水为空",
        "slot_runs": "分区 {0} 运行 {1}",
        "slot_holds_nothing": "（空）",
        "known_good": "（已验证可用）",
        "update": "升级",
        "probation": "，观察期 {0:g} 秒",
        "last_failure": "上次失败",
        "refused": "拒绝",
        "at": "于",
    },
    "en": {
        "cardholder": "cardholder: ",
        "merchant": "merchant:   ",
        "balance": "balance: ",
        "batch": "batch",
        "balanced": "balanced",
        "not_settled": "NOT settled",
        "debits": "debits",
        "credits": "credits",
        "uploaded": "uploaded",
        "next_batch": "next batch",
        "host": "host",
        "pending": "reversals pending: {0}, advices queued: {1}",
        "stan": "STAN",
        "type": "type",
        "state": "state",
        "amount": "amount",
        "card": "card",
        "rc": "rc",
        "code": "code",
        "rev": "rev",
        "empty": "the journal is empty",
        "slot_runs": "slot {0} runs {1}",
        "slot_holds_nothing": "(empty)",
        "known_good": " (known good)",
        "update": "update",
        "probation": ", probation {0:g} s",
        "last_failure": "last failure",
        "refused": "refused",
        "at": "at",
    },
}


def words(lang: str) -> dict[str, str]:
    """The labels of ``lang`` (``zh`` or ``en``)."""
    return WORDS["en" if lang == "en" else "zh"]
