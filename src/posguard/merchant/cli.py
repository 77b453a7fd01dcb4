"""`posguard merchant ...`: onboarding documents, fees, providers, brands, regulation.

Exit status: 0 nothing to report, 1 problems found (documents missing or wrong, fee
findings, flagged terminals), 2 the input could not be read. `posguard merchant samples DIR`
writes a sample of every input.
"""

from __future__ import annotations

import json
import os
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from posguard.cli_support.errors import CliError, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.cli_support.tables import Col, fit_table
from posguard.common.errors import ConfigError
from posguard.merchant.brands import GroupStats, RankingRule, rank
from posguard.merchant.cli_text import STATUS, kind_text, label
from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.compare import Comparison, annualise, compare_providers
from posguard.merchant.fees.loader import (
    DEFAULT_PROVIDERS,
    load_contract,
    load_providers,
    load_transactions,
)
from posguard.merchant.fees.money import format_yuan
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

SAMPLES = (
    "application_individual.yaml",
    "application_company_food.yaml",
    "transactions_2026-11.csv",
    "contract.yaml",
    "fleet.json",
)
"""The sample inputs `posguard merchant samples` writes (shipped in merchant/data/examples)."""

app = FaceApp(
    help="Merchant checks: documents, fees, providers, brands, regulation / 商户检查. "
    "`posguard merchant samples DIR` writes a sample of every input / 生成示例输入文件.",
    no_args_is_help=True,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON / 输出JSON")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Date to check against (YYYY-MM-DD)")]
File = Annotated[Path, typer.Argument(help="Input file / 输入文件", exists=False)]


def _date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"--as-of: {value!r} is not a date (YYYY-MM-DD)",
            f"--as-of：{value!r} 不是日期（格式 YYYY-MM-DD）",
        ) from None


def _fail(exc: MerchantDataError) -> CliError:
    """The one-line error for an input that cannot be used, in both languages."""
    cause = exc.__cause__
    path = exc.context.get("file", "")
    if isinstance(cause, FileNotFoundError):
        return CliError(f"no such file: {path}", f"找不到文件：{path}")
    if isinstance(cause, IsADirectoryError):
        return CliError(f"{path} is a directory, not a file", f"{path} 是目录，不是文件")
    if isinstance(cause, PermissionError):
        return CliError(f"no permission to read {path}", f"没有权限读取 {path}")
    return CliError(str(exc), f"输入有误：{exc}")


def _console() -> Console:
    return Console(highlight=False)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2))


def _print_findings(
    console: Console, findings: tuple[Finding, ...] | list[Finding], lang: str
) -> None:
    cols = [
        Col(label("code", lang), keep=True),
        Col(label("subject", lang), keep=True),
        Col(label("what", lang)),
        Col(label("stake", lang), keep=True, justify="right"),
        Col(label("todo", lang)),
    ]
    rows = [
        [
            f"{f.code}\n{kind_text(f.kind, lang)}",
            f.subject,
            f.detail.get(lang),
            format_yuan(f.at_stake_fen) if f.at_stake_fen is not None else "",
            f.action.get(lang),
        ]
        for f in findings
    ]
    console.print(fit_table(cols, rows, width=console.width))


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
        raise CliError(str(exc), f"无法加密保存：{exc}") from exc
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(sealed.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise CliError(f"cannot write {path}: {reason}", f"无法写入 {path}：{reason}") from exc


@app.command("check-docs")
def check_docs(
    file: File,
    lang: LangOption = None,
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
    """Check an onboarding application (YAML/JSON) / 检查入网资料.

    Samples: application_individual.yaml, application_company_food.yaml
    (written by `posguard merchant samples DIR`)."""
    assert lang is not None  # resolved by FaceApp
    try:
        application = load_application(file)
        report = check_application(application, today=_date(as_of))
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    if save is not None:
        _save_sealed(application, save)
    if as_json:
        _print_json(report)
        raise typer.Exit(0 if report.complete else 1)
    cols = [
        Col(label("docs.document", lang)),
        Col(label("docs.status", lang), keep=True),
        Col(label("docs.number", lang), keep=True),
        Col(label("docs.problems", lang)),
    ]
    rows = [
        [
            r.title.get(lang),
            f"[{_STATUS_STYLE[r.status]}]{STATUS[r.status].get(lang)}[/]",
            r.masked_number or "",
            "\n".join(p.get(lang) for p in r.problems),
        ]
        for r in report.results
    ]
    console = _console()
    console.print(fit_table(cols, rows, width=console.width, markup=True))
    console.print(label("docs.complete" if report.complete else "docs.incomplete", lang))
    if report.unexpected:
        console.print(f"{label('docs.unexpected', lang)}: {', '.join(report.unexpected)}")
    raise typer.Exit(0 if report.complete else 1)


@app.command()
def fees(
    file: File,
    contract: Annotated[Path, typer.Option("--contract", help="Contract YAML / 合同费率")],
    tolerance: Annotated[int, typer.Option(help="Ignore differences up to N fen")] = 0,
    lang: LangOption = None,
    as_json: AsJson = False,
) -> None:
    """Audit settled transactions (CSV/JSON) against the contract / 核对手续费.

    Samples: transactions_2026-11.csv and contract.yaml
    (written by `posguard merchant samples DIR`)."""
    assert lang is not None  # resolved by FaceApp
    try:
        txns = load_transactions(file)
        signed = load_contract(contract)
        audit = audit_fees(txns, signed, tolerance_fen=tolerance)
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    if as_json:
        _print_json(audit)
        raise typer.Exit(1 if audit.findings else 0)
    console = _console()
    cols = [
        Col(label("fees.class", lang), keep=True),
        Col(label("fees.count", lang), keep=True, justify="right"),
        Col(label("fees.amount", lang), keep=True, justify="right"),
        Col(label("fees.charged", lang), keep=True, justify="right"),
        Col(label("fees.contract", lang), keep=True, justify="right"),
        Col(label("fees.difference", lang), keep=True, justify="right"),
    ]
    rows = [
        [
            c.rate_class.value, f"{c.count:,}", format_yuan(c.amount_fen),
            format_yuan(c.charged_fen), format_yuan(c.expected_fen),
            format_yuan(c.charged_fen - c.expected_fen),
        ]
        for c in audit.by_class
    ]  # fmt: skip
    console.print(f"{audit.merchant_id}: {audit.first_day} .. {audit.last_day} ({audit.days} d)")
    console.print(fit_table(cols, rows, width=console.width))
    if audit.days:
        yearly = annualise(audit.charged_fen, audit.days) + 12 * signed.monthly_fee
        console.print(f"{label('fees.yearly', lang)}: {format_yuan(yearly)} CNY")
    if audit.unpriced:
        console.print(f"[yellow]{len(audit.unpriced)} {label('fees.unpriced', lang)}[/]")
    if audit.findings:
        _print_findings(console, audit.findings, lang)
    else:
        console.print(f"[green]{label('fees.match', lang)}[/]")
    raise typer.Exit(1 if audit.findings else 0)


def cheapest_line(comp: Comparison, lang: str) -> str:
    """The comparison's verdict: the cheapest card you could sign, against the contract."""
    best = next(r for r in comp.rows if r.id != "charged")  # rows are cheapest first
    current = next(r for r in comp.rows if r.id == "contract")
    saving = current.yearly_fen - best.yearly_fen
    if best.id == "contract" or saving <= 0:
        return label("cmp.already", lang)
    return label("cmp.cheapest", lang, name=best.name.get(lang), amount=format_yuan(saving))


@app.command("compare-providers")
def compare_providers_cmd(
    file: File,
    contract: Annotated[Path, typer.Option("--contract", help="Contract YAML / 合同费率")],
    providers: Annotated[
        Path, typer.Option("--providers", help="Providers' rate cards (YAML)")
    ] = DEFAULT_PROVIDERS,
    lang: LangOption = None,
    as_json: AsJson = False,
) -> None:
    """Price your real transactions under each provider's card / 比较服务商费率.

    Samples: transactions_2026-11.csv and contract.yaml
    (written by `posguard merchant samples DIR`);
    the providers' cards default to the shipped providers.yaml."""
    assert lang is not None  # resolved by FaceApp
    try:
        comp = compare_providers(
            load_transactions(file), load_contract(contract), load_providers(providers)
        )
    except MerchantDataError as exc:
        raise _fail(exc) from exc
    if as_json:
        _print_json(comp)
        return
    cols = [
        Col("#", keep=True),
        Col(label("cmp.card", lang)),
        Col(label("cmp.period", lang, days=comp.days), keep=True, justify="right", drop=1),
        Col(label("cmp.yearly", lang), keep=True, justify="right"),
        Col(label("cmp.note", lang), drop=2),
    ]
    rows = [
        [
            str(i), row.name.get(lang), format_yuan(row.period_fen), format_yuan(row.yearly_fen),
            label("cmp.unpriced", lang, n=row.unpriced) if row.unpriced else "",
        ]
        for i, row in enumerate(comp.rows, start=1)
    ]  # fmt: skip
    console = _console()
    console.print(
        label("cmp.summary", lang, count=f"{comp.count:,}", amount=format_yuan(comp.amount_fen))
    )
    console.print(fit_table(cols, rows, width=console.width))
    console.print(cheapest_line(comp, lang))


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _brand_row(s: GroupStats) -> list[str]:
    return [
        str(s.rank) if s.rank else "-",
        s.name,
        f"{s.terminals:,}",
        _fmt(s.terminal_years, "{:,.1f}"),
        f"{s.incidents:,}",
        _fmt(s.failures_per_terminal_year, "{:.2f}"),
        _fmt(s.mttr_hours, "{:,.1f}"),
        _fmt(None if s.remote_share is None else s.remote_share * 100, "{:.0f}%"),
        _fmt(s.downtime_hours_per_terminal_year, "{:,.1f}"),
        f"{s.in_warranty}/{s.terminals}",
    ]


@app.command()
def brands(
    file: File,
    as_of: AsOf = None,
    by_model: Annotated[bool, typer.Option("--by-model", help="Rank models, not brands")] = False,
    min_terminals: Annotated[int, typer.Option(help="Minimum terminals to be ranked")] = 10,
    min_terminal_years: Annotated[float, typer.Option(help="Minimum terminal-years")] = 5.0,
    lang: LangOption = None,
    as_json: AsJson = False,
) -> None:
    """Rank brands by after-sales record (fleet JSON/YAML) / 品牌售后排名.

    Sample: fleet.json (written by `posguard merchant samples DIR`)."""
    assert lang is not None  # resolved by FaceApp
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
    cols = [
        Col(label("brands.rank", lang), keep=True),
        Col(label("brands.model" if by_model else "brands.brand", lang)),
        Col(label("brands.terminals", lang), keep=True, justify="right", drop=3),
        Col(label("brands.years", lang), keep=True, justify="right", drop=5),
        Col(label("brands.incidents", lang), keep=True, justify="right", drop=4),
        Col(label("brands.fail", lang), keep=True, justify="right", drop=2),
        Col(label("brands.mttr", lang), keep=True, justify="right", drop=1),
        Col(label("brands.remote", lang), keep=True, justify="right", drop=6),
        Col(label("brands.down", lang), keep=True, justify="right"),
        Col(label("brands.warranty", lang), keep=True, justify="right", drop=7),
    ]
    rows = [_brand_row(s) for s in (*ranking.ranked, *ranking.insufficient)]
    styles = [None] * len(ranking.ranked) + ["dim"] * len(ranking.insufficient)
    console = _console()
    title = label("brands.as_of", lang, date=ranking.as_of)
    console.print(fit_table(cols, rows, width=console.width, title=title, row_styles=styles))
    console.print(label("brands.rule", lang, n=min_terminals, years=min_terminal_years))


@app.command()
def regulation(
    file: File,
    as_of: AsOf = None,
    models: Annotated[Path | None, typer.Option("--models", help="Model list (YAML)")] = None,
    warn_days: Annotated[int, typer.Option(help="Warn this many days ahead")] = 90,
    lang: LangOption = None,
    as_json: AsJson = False,
) -> None:
    """Flag terminals whose model is not permitted or whose certificates lapsed / 合规检查.

    Sample: fleet.json (written by `posguard merchant samples DIR`); the model list
    defaults to the shipped terminal_models.yaml."""
    assert lang is not None  # resolved by FaceApp
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
    console = _console()
    console.print(label("reg.checked", lang, n=f"{report.checked:,}", date=report.as_of))
    if report.findings:
        cols = [
            Col(label("code", lang), keep=True),
            Col(label("what", lang)),
            Col(label("reg.terminals", lang)),
            Col(label("todo", lang)),
        ]
        rows = []
        for g in group_findings(report.findings):
            ids = ", ".join(g.terminal_ids[:8]) + (" ..." if len(g.terminal_ids) > 8 else "")
            rows.append(
                [
                    f"{g.first.code}\n{kind_text(g.first.kind, lang)}",
                    g.first.title.get(lang),
                    f"{len(g.terminal_ids)}: {ids}",
                    g.first.action.get(lang),
                ]
            )
        console.print(fit_table(cols, rows, width=console.width))
    else:
        console.print(f"[green]{label('reg.clean', lang)}[/]")
    if report.unknown_models:
        console.print(
            f"[yellow]{label('reg.unknown', lang)}: {', '.join(report.unknown_models)}[/]"
        )
    raise typer.Exit(1 if blocking else 0)


@app.command()
def samples(
    directory: Annotated[
        Path, typer.Argument(help="Where to write the sample inputs / 写到哪个目录")
    ] = Path("merchant-samples"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files")] = False,
    lang: LangOption = None,
) -> None:
    """Write a sample of every input the merchant commands read / 生成示例输入文件."""
    assert lang is not None  # resolved by FaceApp
    source = files("posguard.merchant") / "data" / "examples"
    targets = [directory / name for name in SAMPLES]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise CliError(
            f"{', '.join(existing)} already exists; use --force to overwrite",
            f"{'、'.join(existing)} 已存在；要覆盖请加 --force",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, target in zip(SAMPLES, targets, strict=True):
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes((source / name).read_bytes())
            os.replace(tmp, target)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CliError(
            f"cannot write the samples to {directory}: {reason}",
            f"无法把示例写到 {directory}：{reason}",
        ) from exc
    typer.echo(label("samples.wrote", lang))
    for target in targets:
        typer.echo(f"  {target}")
    d = directory
    typer.echo(label("samples.try", lang))
    typer.echo(f"  posguard merchant check-docs {d / SAMPLES[0]}")
    typer.echo(f"  posguard merchant fees {d / SAMPLES[2]} --contract {d / SAMPLES[3]}")
    typer.echo(
        f"  posguard merchant compare-providers {d / SAMPLES[2]} --contract {d / SAMPLES[3]}"
    )
    typer.echo(f"  posguard merchant brands {d / SAMPLES[4]}")
    typer.echo(f"  posguard merchant regulation {d / SAMPLES[4]}")
