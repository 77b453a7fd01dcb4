"""The doctor's findings in words (zh/en): one sentence per catalog code, with the facts of
this run (address, timeout, figures) filled in, never a Python exception's text.

>>> sentence("NET.CONNECT_REFUSED", addr="127.0.0.1:5800").en
'127.0.0.1:5800 refused the connection: nothing is listening on that port'
>>> sentence("NET.READ_TIMEOUT", addr="10.0.0.1:5800", read=0.5).zh
'10.0.0.1:5800 在 0.5 秒内没有应答'
>>> sentence("TXN.INSUFFICIENT_FUNDS", addr="h:1", rc="51").en
'the host answered 51: Not enough money on the card'
"""

from __future__ import annotations

from typing import Any, Final

from posguard.catalog import Text, default_catalog

# code -> (zh, en) templates; the facts a check knows are passed by name.
_FAILURES: Final[dict[str, tuple[str, str]]] = {
    "NET.DNS_FAILURE": (
        "主机名 {name} 无法解析（DNS），请检查域名和 DNS 设置",
        "the host name {name} does not resolve (DNS): check the name and the DNS settings",
    ),
    "NET.CONNECT_REFUSED": (
        "{addr} 拒绝连接：该端口上没有服务在监听",
        "{addr} refused the connection: nothing is listening on that port",
    ),
    "NET.CONNECT_TIMEOUT": (
        "{connect:g} 秒内连不上 {addr}：网络不通或被防火墙拦截",
        "no connection to {addr} within {connect:g} s: the network or a firewall drops it",
    ),
    "NET.NO_ROUTE": (
        "到 {addr} 没有路由：网络断开或地址不可达",
        "no route to {addr}: the network is down or the address is unreachable",
    ),
    "NET.TLS_FAILURE": (
        "与 {addr} 的 TLS 握手失败：证书或 TLS 设置与主机不一致",
        "the TLS handshake with {addr} failed: the certificate or TLS setting does not match "
        "the host",
    ),
    "NET.READ_TIMEOUT": (
        "{addr} 在 {read:g} 秒内没有应答",
        "{addr} did not answer within {read:g} s",
    ),
    "NET.CONNECTION_RESET": (
        "{addr} 在应答前断开了连接",
        "{addr} closed the connection before answering",
    ),
    "TXN.FORMAT_ERROR": (
        "{addr} 的应答不是本规范的报文（端口或报文规范配错？）",
        "{addr} answered with something that is not a message of this profile (wrong port "
        "or wrong spec?)",
    ),
    "TXN.MAC_ERROR": (
        "应答的 MAC 校验不通过：终端与主机的工作密钥不一致",
        "the answer's MAC does not verify: the terminal's and the host's working keys differ",
    ),
}


def sentence(code: str, **facts: Any) -> Text:
    """The sentence for a failure ``code``; a host's declining response code (``rc``) is
    said with the catalog entry's title, anything else falls back to that title."""
    template = _FAILURES.get(code)
    if template is not None:
        return Text(zh=template[0].format(**facts), en=template[1].format(**facts))
    entry = default_catalog().get(code)
    title = entry.title if entry is not None else Text(zh=code, en=code)
    rc = facts.get("rc")
    if rc:
        return Text(zh=f"主机应答 {rc}：{title.zh}", en=f"the host answered {rc}: {title.en}")
    return title


def say(zh: str, en: str) -> Text:
    """A finding that is not a failure code's (a pass, a warning's figures)."""
    return Text(zh=zh, en=en)
