"""The catalog's own words for its enums, in both languages, for every face that prints them.

>>> CATEGORY[Category.HARDWARE].get("zh"), SEVERITY[Severity.MINOR].get("zh")
('硬件', '轻微')
>>> audience_text((Audience.MERCHANT, Audience.OPS), "zh")
'商户、运维'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from posguard.catalog.model import Audience, Category, Severity
from posguard.catalog.text import Text

CATEGORY: Mapping[Category, Text] = MappingProxyType(
    {
        Category.HARDWARE: Text(zh="硬件", en="hardware"),
        Category.SOFTWARE: Text(zh="软件", en="software"),
        Category.NETWORK: Text(zh="网络", en="network"),
        Category.CONFIGURATION: Text(zh="配置", en="configuration"),
        Category.THIRD_PARTY: Text(zh="第三方", en="third party"),
        Category.REGULATORY: Text(zh="监管", en="regulatory"),
        Category.CARDHOLDER: Text(zh="持卡人", en="cardholder"),
        Category.ISSUER_HOST: Text(zh="发卡行/主机", en="issuer or host"),
        Category.OPERATOR: Text(zh="操作", en="operator"),
    }
)
SEVERITY: Mapping[Severity, Text] = MappingProxyType(
    {
        Severity.INFO: Text(zh="提示", en="info"),
        Severity.MINOR: Text(zh="轻微", en="minor"),
        Severity.MAJOR: Text(zh="严重", en="major"),
        Severity.CRITICAL: Text(zh="紧急", en="critical"),
    }
)
AUDIENCE: Mapping[Audience, Text] = MappingProxyType(
    {
        Audience.CARDHOLDER: Text(zh="持卡人", en="cardholder"),
        Audience.MERCHANT: Text(zh="商户", en="merchant"),
        Audience.OPS: Text(zh="运维", en="operations"),
        Audience.ENGINEER: Text(zh="工程师", en="engineer"),
    }
)


def audience_text(audience: Iterable[Audience], lang: str) -> str:
    """Who acts, in ``lang``: ``商户、运维`` / ``merchant, operations``."""
    sep = "、" if lang.startswith("zh") else ", "
    return sep.join(AUDIENCE[a].get(lang) for a in audience)
