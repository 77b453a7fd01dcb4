"""`posguard host lab`: the lab view (:mod:`posguard.host.lab`) as tables or one JSON object."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date

import typer
from rich.console import Console

from posguard.cli_support.tables import Col, fit_table
from posguard.host.lab import LabView, lab_view
from posguard.host.seed import SeedData

_HEAD = {
    "zh": {
        "terminals": "终端",
        "merchants": "商户",
        "cards": "测试卡（卡号已掩码；完整卡号见 posguard host seed）",
        "tid": "终端号",
        "mid": "商户号",
        "merchant": "商户",
        "name": "名称",
        "mcc": "MCC",
        "status": "状态",
        "mac": "MAC",
        "note": "说明",
        "card": "卡号",
        "expiry": "有效期",
        "balance": "余额",
        "rc": "应答码",
        "purpose": "用途",
    },
    "en": {
        "terminals": "Terminals",
        "merchants": "Merchants",
        "cards": "Test cards (masked; full numbers: posguard host seed)",
        "tid": "terminal",
        "mid": "merchant ID",
        "merchant": "merchant",
        "name": "name",
        "mcc": "MCC",
        "status": "status",
        "mac": "MAC",
        "note": "note",
        "card": "card",
        "expiry": "expiry",
        "balance": "balance",
        "rc": "rc",
        "purpose": "for",
    },
}


def lab_json(view: LabView) -> str:
    """One JSON object: ``terminals``, ``merchants``, ``cards`` (masked PANs only)."""
    data = asdict(view)
    return json.dumps(data, ensure_ascii=False, indent=2)


def print_lab(seed: SeedData, *, lang: str, as_json: bool, console: Console | None = None) -> None:
    view = lab_view(seed, date.today())
    if as_json:
        typer.echo(lab_json(view))
        return
    console = console or Console()
    h, width = _HEAD[lang], console.width
    console.print(
        fit_table(
            [
                Col(h["tid"], keep=True),
                Col(h["mid"], keep=True),
                Col(h["merchant"], drop=2),
                Col(h["mac"], keep=True, drop=3),
                Col(h["note"]),
            ],
            [[t.tid, t.mid, t.merchant, t.mac, t.purpose.get(lang)] for t in view.terminals],
            width=width,
            title=h["terminals"],
        )
    )
    console.print(
        fit_table(
            [
                Col(h["mid"], keep=True),
                Col(h["name"]),
                Col(h["mcc"], keep=True, drop=1),
                Col(h["status"], keep=True),
            ],
            [[m.mid, m.name, m.mcc, m.status] for m in view.merchants],
            width=width,
            title=h["merchants"],
        )
    )
    console.print(
        fit_table(
            [
                Col(h["card"], keep=True),
                Col(h["expiry"], keep=True),
                Col(h["balance"], keep=True, justify="right"),
                Col(h["rc"], keep=True),
                Col(h["purpose"]),
            ],
            [
                [c.pan_masked, c.expiry, f"{c.balance / 100:,.2f}", c.rc, c.purpose.get(lang)]
                for c in view.cards
            ],
            width=width,
            title=h["cards"],
        )
    )
