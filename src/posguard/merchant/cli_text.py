"""Every label the merchant commands print, in Chinese and English (one place, one lookup).

>>> label("fees.amount", "en"), label("fees.amount", "zh")
('amount (CNY)', '金额（元）')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from posguard.merchant.onboarding.check import DocStatus
from posguard.merchant.text import Text, t

LABELS: Mapping[str, Text] = MappingProxyType(
    {
        "code": t("代码", "code"),
        "subject": t("对象", "subject"),
        "what": t("情况", "what"),
        "stake": t("涉及金额（元）", "at stake (CNY)"),
        "todo": t("处理", "what to do"),
        "docs.document": t("资料", "document"),
        "docs.status": t("状态", "status"),
        "docs.number": t("号码", "number"),
        "docs.problems": t("问题", "problems"),
        "docs.complete": t("资料齐全，可以提交", "complete: ready to submit"),
        "docs.incomplete": t(
            "资料不齐或有误，请按上表补正", "incomplete or wrong: fix the rows above"
        ),
        "docs.unexpected": t("清单外资料", "not on the checklist"),
        "fees.class": t("类别", "class"),
        "fees.count": t("笔数", "count"),
        "fees.amount": t("金额（元）", "amount (CNY)"),
        "fees.charged": t("实收手续费", "charged"),
        "fees.contract": t("合同应收", "contract"),
        "fees.difference": t("差额", "difference"),
        "fees.yearly": t("年度预计", "projected per year"),
        "fees.unpriced": t("笔交易没有对应费率", "transactions have no rate"),
        "fees.match": t("手续费与合同一致", "all fees match the contract"),
        "cmp.card": t("费率方案", "rate card"),
        "cmp.period": t("{days} 天（元）", "{days} days (CNY)"),
        "cmp.yearly": t("每年（元）", "per year (CNY)"),
        "cmp.note": t("备注", "note"),
        "cmp.unpriced": t("{n} 笔按行业标准费率计", "{n} at the MCC standard rate"),
        "cmp.summary": t("{count} 笔交易，共 {amount} 元", "{count} transactions, {amount} CNY"),
        "cmp.cheapest": t(
            "最便宜的是「{name}」，每年比现在的合同省 {amount} 元",
            "cheapest: {name}, {amount} CNY a year less than your current contract",
        ),
        "cmp.already": t(
            "您现在的合同已经是这些方案里最便宜的，不必更换",
            "your current contract is already the cheapest of these cards: no need to change",
        ),
        "brands.rank": t("排名", "rank"),
        "brands.brand": t("品牌", "brand"),
        "brands.model": t("型号", "model"),
        "brands.terminals": t("终端数", "terminals"),
        "brands.years": t("台年", "term-years"),
        "brands.incidents": t("工单", "incidents"),
        "brands.fail": t("故障/台年", "fail/term-yr"),
        "brands.mttr": t("修复小时", "MTTR h"),
        "brands.remote": t("远程解决", "remote"),
        "brands.down": t("停机小时/台年", "down h/term-yr"),
        "brands.warranty": t("保修内", "in warranty"),
        "brands.as_of": t("截至 {date}", "as of {date}"),
        "brands.rule": t(
            "按每台年停机小时排名；排名为 '-' 的行不足 {n} 台终端或 {years} 台年，"
            "样本太少不参与排名",
            "ranked by downtime hours per terminal-year; rows ranked '-' have fewer than {n} "
            "terminals or {years} terminal-years: too few to rank",
        ),
        "reg.checked": t("已检查 {n} 台终端，截至 {date}", "{n} terminals checked, as of {date}"),
        "reg.terminals": t("终端", "terminals"),
        "reg.clean": t("未发现问题", "no terminal flagged"),
        "reg.unknown": t("型号未收录", "model not in the list"),
        "samples.wrote": t("已写入示例文件：", "sample inputs written:"),
        "samples.try": t("试试：", "try:"),
    }
)

KINDS: Mapping[str, Text] = MappingProxyType(
    {
        "mcc_changed": t("行业类别被改", "MCC changed"),
        "rate_changed": t("费率被改", "rate changed"),
        "cap_exceeded": t("超过封顶", "above the cap"),
        "model_not_permitted": t("型号不准使用", "model not permitted"),
        "certificate_expired": t("认证已过期", "certification expired"),
        "certificate_expiring": t("认证即将到期", "certification expiring soon"),
    }
)

STATUS: Mapping[DocStatus, Text] = MappingProxyType(
    {
        DocStatus.OK: t("合格", "ok"),
        DocStatus.EXPIRING_SOON: t("即将到期", "expiring soon"),
        DocStatus.MISSING: t("缺少", "missing"),
        DocStatus.INVALID: t("有误", "invalid"),
        DocStatus.EXPIRED: t("已过期", "expired"),
    }
)


def label(key: str, lang: str, **values: object) -> str:
    """The label ``key`` in ``lang``, with ``{placeholders}`` filled from ``values``."""
    return LABELS[key].get(lang).format(**values)


def kind_text(kind: str, lang: str) -> str:
    """A finding's kind for people; an unknown kind is shown as it is."""
    text = KINDS.get(kind)
    return text.get(lang) if text else kind
