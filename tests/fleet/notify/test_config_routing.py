"""Channels and routes as data: errors that say where; routing by severity, scope, category
and who must act; the merchant's own contact in its language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posguard.fleet.notify.config import NotifyConfigError, load_config, parse_config
from posguard.fleet.notify.routing import Subject, escalations_due, recipients

CHANNELS = [
    {
        "id": "ops-mail",
        "type": "email",
        "host": "smtp.example.com",
        "sender": "pg@example.com",
        "password": {"env": "SMTP_PASSWORD"},
        "username": "pg",
    },
    {"id": "ops-dt", "type": "dingtalk", "token": {"env": "DT_TOKEN"}, "secret": {"env": "DT_SEC"}},
    {"id": "net-fs", "type": "feishu", "token": {"file": "/run/secrets/fs"}},
    {"id": "shop-wc", "type": "wecom", "key": {"env": "WC_KEY"}},
]


def _config(routes: list[dict[str, Any]], merchants: dict[str, Any] | None = None) -> Any:
    return parse_config(
        {"channels": CHANNELS, "routes": routes, "merchants": merchants or {}}, source="n.yaml"
    )


def _subject(
    catalog: Any,
    code: str,
    scope: str,
    *,
    severity: str | None = None,
    merchant: str | None = "M01",
    host: str | None = "acq-east",
    area: str | None = "pudong",
) -> Subject:
    entry = catalog[code]
    kind, _, value = scope.partition(":")
    return Subject(
        code=code,
        severity=severity or entry.severity.value,
        scope=scope,
        terminal_id=value if kind == "terminal" else None,
        merchant_id=merchant if kind == "terminal" else None,
        host=host if kind in ("terminal", "host") else None,
        area=area if kind == "terminal" else (value if kind == "area" else None),
        entry=entry,
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"channels": [{"id": "x", "type": "webhook", "url": "http://h/", "secret": "inline"}]},
            "n.yaml: channels entry 1 (x): field 'secret': ",
        ),
        (
            {
                "channels": [
                    {
                        "id": "m",
                        "type": "email",
                        "host": "h",
                        "sender": "a@b",
                        "password": {"env": "A", "file": "/f"},
                    }
                ]
            },
            "n.yaml: channels entry 1 (m): field 'password': ",
        ),
        (
            {"channels": CHANNELS, "routes": [{"id": "r", "notify": [{"channel": "nope"}]}]},
            "n.yaml: routes entry 1 (r): field 'channel': unknown channel 'nope'",
        ),
        (
            {"channels": CHANNELS, "routes": [{"id": "r", "notify": [{"channel": "ops-mail"}]}]},
            "n.yaml: routes entry 1 (r): field 'to': an e-mail target needs addresses",
        ),
        (
            {
                "channels": CHANNELS,
                "routes": [
                    {
                        "id": "r",
                        "match": {"severity_at_least": "huge"},
                        "notify": [{"channel": "ops-dt"}],
                    }
                ],
            },
            "n.yaml: routes entry 1 (r): field 'match.severity_at_least': ",
        ),
        (
            {
                "channels": CHANNELS,
                "routes": [
                    {
                        "id": "r",
                        "notify": [{"channel": "ops-dt"}],
                        "escalate": [
                            {"after_min": 30, "notify": [{"channel": "ops-dt"}]},
                            {"after_min": 10, "notify": [{"channel": "ops-dt"}]},
                        ],
                    }
                ],
            },
            "n.yaml: routes entry 1 (r): field 'escalate': ",
        ),
        (
            {"channels": CHANNELS, "merchants": {"M01": {"channel": "ghost"}}},
            "n.yaml: merchants entry M01: field 'channel': unknown channel 'ghost'",
        ),
        ({"channels": [*CHANNELS, CHANNELS[1]]}, "n.yaml: channels entry 5 (ops-dt): id repeats"),
        ({"chanels": []}, "n.yaml: unknown section(s) ['chanels']"),
    ],
)
def test_errors_name_file_entry_and_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(NotifyConfigError) as err:
        parse_config(doc, source="n.yaml")
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_inline_secret_is_refused_and_a_file_is_read(tmp_path: Path) -> None:
    bad = tmp_path / "n.yaml"
    bad.write_text("channels:\n  - {id: h, type: webhook, url: 'http://x/', secret: s3cr3t}\n")
    with pytest.raises(NotifyConfigError) as err:
        load_config(bad)
    assert "s3cr3t" not in str(err.value)  # the message names the field, not the value
    secret_file = tmp_path / "hook.secret"
    secret_file.write_text("from-a-file\n")
    good = tmp_path / "ok.yaml"
    good.write_text(
        "channels:\n  - {id: h, type: webhook, url: 'http://x/',\n"
        f"      secret: {{file: '{secret_file}'}}}}\n"
        "routes:\n  - {id: r, notify: [{channel: h}]}\n"
    )
    cfg = load_config(good)
    assert cfg.channels["h"].secret.resolve() == "from-a-file"  # type: ignore[union-attr]


def test_routes_by_severity_scope_category_and_audience(catalog: Any) -> None:
    cfg = _config(
        [
            {
                "id": "critical-net",
                "match": {
                    "severity_at_least": "critical",
                    "categories": ["network"],
                    "scope_kinds": ["host", "area"],
                },
                "notify": [{"channel": "net-fs"}],
            },
            {
                "id": "east-ops",
                "match": {"hosts": ["acq-e*"], "audience": ["ops"]},
                "notify": [{"channel": "ops-mail", "to": ["east@example.com"], "lang": "en"}],
            },
            {
                "id": "pudong",
                "match": {"areas": ["pudong"], "merchants": ["M0*"]},
                "notify": [{"channel": "ops-dt"}],
            },
            {"id": "issuer", "match": {"issuers": ["icbc"]}, "notify": [{"channel": "ops-dt"}]},
        ]
    )
    host_down = _subject(catalog, "NET.CONNECT_TIMEOUT", "host:acq-east", severity="critical")
    assert {
        (r.route_id, r.channel, r.recipient, r.lang) for r in recipients(cfg, host_down, "open")
    } == {
        ("critical-net", "net-fs", "", "zh"),
        ("east-ops", "ops-mail", "east@example.com", "en"),
    }
    # one terminal's connect timeouts: major, not critical, and a terminal scope
    one = _subject(catalog, "NET.CONNECT_TIMEOUT", "terminal:T1")
    assert [r.route_id for r in recipients(cfg, one, "open")] == ["east-ops", "pudong"]
    # paper out: merchant-only audience, hardware: only the area/merchant route
    paper = _subject(catalog, "PRN.PAPER_OUT", "terminal:T1", host="acq-west")
    assert [r.route_id for r in recipients(cfg, paper, "open")] == ["pudong"]
    other = _subject(
        catalog, "PRN.PAPER_OUT", "terminal:T9", merchant="X7", area="xuhui", host="acq-west"
    )
    assert recipients(cfg, other, "open") == []
    issuer = _subject(catalog, "TXN.ISSUER_UNAVAILABLE", "issuer:icbc")
    assert [r.route_id for r in recipients(cfg, issuer, "open")] == ["issuer"]
    assert recipients(cfg, host_down, "ack") == []  # routes say open and resolve by default


def test_merchant_gets_its_own_steps_in_its_language(catalog: Any) -> None:
    """When the catalog says the merchant must act (paper out), the merchant's contact is told
    in its language with the steps; an ops-only fault never reaches the merchant."""
    cfg = _config(
        [{"id": "shops", "match": {"audience": ["merchant"]}, "notify_merchant": True}],
        merchants={
            "M01": {"channel": "shop-wc", "lang": "en"},
            "M02": {"channel": "ops-mail", "to": ["owner@shop.example"]},
        },
    )
    paper = _subject(catalog, "PRN.PAPER_OUT", "terminal:T1")
    (r,) = recipients(cfg, paper, "open")
    assert (r.channel, r.lang, r.audience) == ("shop-wc", "en", "merchant")
    m2 = _subject(catalog, "PRN.PAPER_OUT", "terminal:T5", merchant="M02")
    assert [(x.channel, x.recipient, x.lang) for x in recipients(cfg, m2, "open")] == [
        ("ops-mail", "owner@shop.example", "zh")
    ]
    ops_only = next(e for e in catalog.values() if [a.value for a in e.audience] == ["ops"])
    s = _subject(catalog, ops_only.code, "terminal:T1")
    assert recipients(cfg, s, "open") == []
    assert recipients(cfg, _subject(catalog, "PRN.PAPER_OUT", "host:acq-east"), "open") == []


def test_escalation_levels_by_minutes_open(catalog: Any) -> None:
    cfg = _config(
        [
            {
                "id": "ops",
                "notify": [{"channel": "ops-dt"}],
                "escalate": [
                    {"after_min": 15, "notify": [{"channel": "ops-mail", "to": ["lead@x.cn"]}]},
                    {"after_min": 60, "notify": [{"channel": "ops-mail", "to": ["head@x.cn"]}]},
                ],
            },
        ]
    )
    s = _subject(catalog, "PRN.PAPER_OUT", "terminal:T1")
    assert escalations_due(cfg, s, minutes_open=14.9) == []
    assert [(r.level, r.recipient) for r in escalations_due(cfg, s, minutes_open=15)] == [
        (1, "lead@x.cn")
    ]
    assert [r.level for r in escalations_due(cfg, s, minutes_open=61)] == [1, 2]
    # who was escalated to hears the end as well
    assert {r.recipient for r in recipients(cfg, s, "resolve")} == {"", "lead@x.cn", "head@x.cn"}


def test_the_documented_example_is_valid() -> None:
    """docs/notifications.md's example configuration loads as it is printed."""
    import re

    import yaml

    doc = (Path(__file__).parents[3] / "docs" / "notifications.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    cfg = parse_config(yaml.safe_load(example.group(1)), source="notifications.md")
    assert set(cfg.channels) == {"ops-mail", "ops-hook", "ops-dingtalk", "ops-wecom", "net-feishu"}
    assert [r.id for r in cfg.routes] == ["network-wide", "east-ops", "shops"]
    assert cfg.routes[1].send_on == ("open", "ack", "resolve", "assign", "reopen")
    assert cfg.routes[1].sla_breach
