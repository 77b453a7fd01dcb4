"""What the fleet CLI prints, in Chinese and English (errors are in
:mod:`posguard.fleet.cli_errors`).

>>> say("user_created", "en", user="ana", role="ops")
'user ana (ops) created'
>>> say("user_created", "zh", user="ana", role="ops")
'用户 ana（ops）已创建'
"""

from __future__ import annotations

_TEXT: dict[str, tuple[str, str]] = {  # key: (en, zh)
    "migrated": (
        "fleet database {before} -> {after}: {where}",
        "终端管理数据库 {before} -> {after}：{where}",
    ),
    "empty": ("empty", "空"),
    "user_created": ("user {user} ({role}) created", "用户 {user}（{role}）已创建"),
    "merchant_created": ("merchant {merchant} created", "商户 {merchant} 已创建"),
    "merchant_updated": ("merchant {merchant} updated", "商户 {merchant} 已更名"),
    "merchant_unchanged": ("merchant {merchant} unchanged", "商户 {merchant} 未变"),
    "terminal_registered": (
        "terminal {terminal} registered. Credential (shown once):",
        "终端 {terminal} 已登记。凭证（仅显示一次）：",
    ),
    "refused": ("refused {where} ({id})", "已拒绝 {where}（{id}）"),
    # notify
    "secret_ok": ("ok", "可读"),
    "secret_missing": ("MISSING", "缺失"),
    "no_limit": ("no limit", "不限"),
    "per_min": ("{n}/min", "{n}/分钟"),
    "channels_total": (
        "{channels} channel(s), {routes} route(s)",
        "{channels} 个渠道，{routes} 条路由",
    ),
    # incidents
    "assignee": ("assignee", "处理人"),
    "resolution": ("resolution", "解决原因"),
    "sla_ack": ("sla ack", "SLA 受理"),
    "sla_resolve": ("sla resolve", "SLA 解决"),
    "sla_line": ("{state} ({left}, target {target})", "{state}（{left}，目标 {target}）"),
}


def say(key: str, lang: str | None, **values: object) -> str:
    """The text ``key`` in ``lang`` (``zh`` / ``en``) with ``values`` filled in."""
    en, zh = _TEXT[key]
    return (en if lang == "en" else zh).format(**values)
