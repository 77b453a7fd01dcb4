"""`posguard merchant ...`: onboarding documents, fees, providers, brands, regulation.

Exit status: 0 nothing to report, 1 problems found (documents missing or wrong, fee
findings, flagged terminals), 2 the input could not be read.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from posguard.common.errors import ConfigError
from posguard.merchant.brands import GroupStats, RankingRule, rank
from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.compare import annualise, compare_providers
from posguard.merchant.fees.loader import (
    DEFAULT_PROVIDERS,
    load_contract,
    load_providers,
    load_transactions,
)
from posguard.merchant.fees.money import fen_to_yuan
from posguard.merchant.findings import Finding
from posguard.merchant.fleet_records import load_fleet_records
from posguard.merchant.onboarding.application import Application, load_application
from posguard.merchant.onboarding.check import DocStatus, check_application
from posguard.merchant.onboarding.privacy import Sealer
from posguard.merchant.onboarding.sealed import seal_application
from posguard.merchant.regulation import (
    check_terminals,
    default_registry,
    group_findings,
    load_registry,
)
from posguard.merchant.serialize import to_jsonable

app = typer.Typer(
    help="Merchant checks: documents, fees, providers, brands, regulation / 商户检查.",
    no_args_is_help=True,
)

Lang = Annotated[str, typer.Option("--lang", help="zh or en / 语言")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON / 输出JSON")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Date to check against (YYYY-MM-DD)")]
File = Annotated[Path, typer.Argument(help="Input file / 输入文件", exists=False)]


def _date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"--as-of: {value!r} is not a date (YYYY-MM-DD) / 日期格式不对", err=True)
        raise typer.Exit(2) from None


def _fail(exc: MerchantDataError) -> typer.Exit:
    typer.echo(f"error / 错误: {exc}", err=True)
    return typer.Exit(2)


def _table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells wrap (Chinese text has no spaces to break at) instead of cutting."""
    table = Table(title=title)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2))


def _findings_table(findings: tuple[Finding, ...] | list[Finding], lang: str) -> Table:
    table = _table("code", "subject", "what / 情况", "at stake (CNY)", "what to do / 处理")
    for f in findings:
        stake = fen_to_yuan(f.at_stake_fen) if f.at_stake_fen is not None else ""
        table.add_row(
            f"{f.code}\n{f.kind}", f.subject, f.detail.get(lang), stake, f.action.get(lang)
        )
    return table


_STATUS_ZH = {
    DocStatus.OK: "合格",
    DocStatus.EXPIRING_SOON: "即将到期",
    DocStatus.MISSING: "缺少",
    DocStatus.INVALID: "有误",
    DocStatus.EXPIRED: "已过期",
}

_STATUS_STYLE = {
    DocStatus.OK: "green",
    DocStatus.EXPIRING_SOON: "yellow",
    DocStatus.MISSING: "red",
    DocStatus.INVALID: "red",
    DocStatus.EXPIRED: "red",
}


def _save_sealed(application: Application, path: Path) -> None:
    """Write the sealed (AES-GCM) record atomically: all of it or nothing."""
    try:
        sealed = seal_application(application, Sealer.from_settings())
    except ConfigError as exc:
        typer.echo(f"error / 错误: {exc}", err=True)
        raise typer.Exit(2) from exc
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(sealed.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        typer.echo(f"error / 错误: cannot write {path}: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("check-docs")
def check_docs(
    file: File,
    lang: Lang = "zh",
    as_json: AsJson = False,
    as_of: AsOf = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            help="Also write the application sealed with POSGUARD_MERCHANT_DATA_KEY "
            "(AES-GCM) to this file / 加密保存",
        ),
    ] = None,
) -> None:
    """Check an onboarding application (YAML/JSON) / 检查入网资料."""
    try:
        application = load_application(file)
        report = check_application(application, today=_date(as_of))
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    if save is not None:
        _save_sealed(application, save)
    if as_json:
        _print_json(report)
    else:
        table = _table("document / 资料", "status / 状态", "number / 号码", "problems / 问题")
        for r in report.results:
            style = _STATUS_STYLE[r.status]
            problems = "\n".join(p.get(lang) for p in r.problems)
            table.add_row(
                r.title.get(lang),
                f"[{style}]{_STATUS_ZH[r.status] if lang.startswith('zh') else r.status.value}[/]",
                r.masked_number or "",
                problems,
            )
        console = Console()
        console.print(table)
        verdict = (
            ("资料齐全，可以提交", "complete: ready to submit")
            if report.complete
            else ("资料不齐或有误，请按上表补正", "incomplete or wrong: fix the rows above")
        )
        console.print(verdict[0] if lang.startswith("zh") else verdict[1])
        if report.unexpected:
            console.print(f"not on the checklist / 清单外资料: {', '.join(report.unexpected)}")
    raise typer.Exit(0 if report.complete else 1)


@app.command()
def fees(
    file: File,
    contract: Annotated[Path, typer.Option("--contract", help="Contract YAML / 合同费率")],
    tolerance: Annotated[int, typer.Option(help="Ignore differences up to N fen")] = 0,
    lang: Lang = "zh",
    as_json: AsJson = False,
) -> None:
    """Audit settled transactions (CSV/JSON) against the contract / 核对手续费."""
    try:
        txns = load_transactions(file)
        signed = load_contract(contract)
        audit = audit_fees(txns, signed, tolerance_fen=tolerance)
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    if as_json:
        _print_json(audit)
        raise typer.Exit(1 if audit.findings else 0)
    console = Console()
    table = _table("class / 类别", "count", "amount (CNY)", "charged", "contract", "difference")
    for c in audit.by_class:
        table.add_row(
            c.rate_class.value, str(c.count), fen_to_yuan(c.amount_fen),
            fen_to_yuan(c.charged_fen), fen_to_yuan(c.expected_fen),
            fen_to_yuan(c.charged_fen - c.expected_fen),
        )  # fmt: skip
    console.print(f"{audit.merchant_id}: {audit.first_day} .. {audit.last_day} ({audit.days} d)")
    console.print(table)
    if audit.days:
        yearly = annualise(audit.charged_fen, audit.days) + 12 * signed.monthly_fee
        console.print(f"projected per year / 年度预计: {fen_to_yuan(yearly)} CNY")
    if audit.unpriced:
        console.print(f"[yellow]no rate for {len(audit.unpriced)} transactions / 无费率[/]")
    if audit.findings:
        console.print(_findings_table(audit.findings, lang))
    else:
        console.print("[green]all fees match the contract / 手续费与合同一致[/]")
    raise typer.Exit(1 if audit.findings else 0)


@app.command("compare-providers")
def compare_providers_cmd(
    file: File,
    contract: Annotated[Path, typer.Option("--contract", help="Contract YAML / 合同费率")],
    providers: Annotated[
        Path, typer.Option("--providers", help="Providers' rate cards (YAML)")
    ] = DEFAULT_PROVIDERS,
    lang: Lang = "zh",
    as_json: AsJson = False,
) -> None:
    """Price your real transactions under each provider's card / 比较服务商费率."""
    try:
        comp = compare_providers(
            load_transactions(file), load_contract(contract), load_providers(providers)
        )
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    if as_json:
        _print_json(comp)
        return
    table = Table(
        "#", "card / 费率方案", f"{comp.days} days (CNY)", "per year / 每年 (CNY)", "note"
    )
    for i, row in enumerate(comp.rows, start=1):
        note = f"{row.unpriced} at MCC standard" if row.unpriced else ""
        table.add_row(
            str(i), row.name.get(lang), fen_to_yuan(row.period_fen), fen_to_yuan(row.yearly_fen),
            note,
        )  # fmt: skip
    console = Console()
    console.print(f"{comp.count} transactions, {fen_to_yuan(comp.amount_fen)} CNY")
    console.print(table)
    console.print(
        f"cheapest vs current contract, per year / 最低方案每年可省: "
        f"{fen_to_yuan(comp.saving_vs('contract'))} CNY"
    )


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _brand_row(s: GroupStats) -> list[str]:
    return [
        str(s.rank) if s.rank else "-",
        s.name,
        str(s.terminals),
        _fmt(s.terminal_years, "{:.1f}"),
        str(s.incidents),
        _fmt(s.failures_per_terminal_year, "{:.2f}"),
        _fmt(s.mttr_hours, "{:.1f}"),
        _fmt(None if s.remote_share is None else s.remote_share * 100, "{:.0f}%"),
        _fmt(s.downtime_hours_per_terminal_year, "{:.1f}"),
        f"{s.in_warranty}/{s.terminals}",
    ]


@app.command()
def brands(
    file: File,
    as_of: AsOf = None,
    by_model: Annotated[bool, typer.Option("--by-model", help="Rank models, not brands")] = False,
    min_terminals: Annotated[int, typer.Option(help="Minimum terminals to be ranked")] = 10,
    min_terminal_years: Annotated[float, typer.Option(help="Minimum terminal-years")] = 5.0,
    as_json: AsJson = False,
) -> None:
    """Rank brands by after-sales record (fleet JSON/YAML) / 品牌售后排名."""
    try:
        records = load_fleet_records(file)
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    ranking = rank(
        records, as_of=_date(as_of), by_model=by_model,
        rule=RankingRule(min_terminals=min_terminals, min_terminal_years=min_terminal_years),
    )  # fmt: skip
    if as_json:
        _print_json(ranking)
        return
    table = _table(
        "rank", "brand / 品牌", "terminals", "term-years", "incidents", "fail/term-yr",
        "MTTR h", "remote", "down h/term-yr", "in warranty", title=f"as of {ranking.as_of}",
    )  # fmt: skip
    for s in ranking.ranked:
        table.add_row(*_brand_row(s))
    for s in ranking.insufficient:
        table.add_row(*_brand_row(s), style="dim")
    console = Console()
    console.print(table)
    console.print(
        f"ranked by downtime hours per terminal-year; rows marked '-' have fewer than "
        f"{min_terminals} terminals or {min_terminal_years} terminal-years: too few to rank / "
        f"按每台年停机小时排名；标'-'的行样本不足，不参与排名"
    )


@app.command()
def regulation(
    file: File,
    as_of: AsOf = None,
    models: Annotated[Path | None, typer.Option("--models", help="Model list (YAML)")] = None,
    warn_days: Annotated[int, typer.Option(help="Warn this many days ahead")] = 90,
    lang: Lang = "zh",
    as_json: AsJson = False,
) -> None:
    """Flag terminals whose model is not permitted or whose certificates lapsed / 合规检查."""
    try:
        records = load_fleet_records(file)
        registry = load_registry(models) if models else default_registry()
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    report = check_terminals(
        records.terminals, as_of=_date(as_of), registry=registry, warn_days=warn_days
    )
    blocking = [f for f in report.findings if f.kind != "certificate_expiring"]
    if as_json:
        _print_json(report)
        raise typer.Exit(1 if blocking else 0)
    console = Console()
    console.print(f"{report.checked} terminals checked, as of {report.as_of}")
    if report.findings:
        table = _table("code", "what / 情况", "terminals / 终端", "what to do / 处理")
        for g in group_findings(report.findings):
            ids = ", ".join(g.terminal_ids[:8]) + (" ..." if len(g.terminal_ids) > 8 else "")
            table.add_row(
                f"{g.first.code}\n{g.first.kind}", g.first.title.get(lang),
                f"{len(g.terminal_ids)}: {ids}", g.first.action.get(lang),
            )  # fmt: skip
        console.print(table)
    else:
        console.print("[green]no terminal flagged / 未发现问题[/]")
    if report.unknown_models:
        console.print(
            f"[yellow]model not in the list / 型号未收录: {', '.join(report.unknown_models)}[/]"
        )
    raise typer.Exit(1 if blocking else 0)
