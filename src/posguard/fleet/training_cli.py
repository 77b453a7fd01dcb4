"""`posguard fleet training record`: record a training session held with a merchant's staff
from a shell, with the same checks as the dashboard's form (``fleet.training.form``), then
print the error rate of its topics before and after, as ``GET /api/v1/training/list`` gives it.
Any mistake: every problem on stderr in the user's language, exit 2, nothing recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption, resolve_lang
from posguard.fleet.cli_errors import fleet_errors, fleet_settings

app = FaceApp(help="Training of merchants' staff / 商户员工培训.", no_args_is_help=True)


def _rate(per_1000: float | None, transactions: int, zh: bool) -> str:
    if per_1000 is None:
        return f"-（{transactions} 笔交易）" if zh else f"- ({transactions} transactions)"
    return (
        f"{per_1000:g} / 千笔（{transactions} 笔交易）"
        if zh
        else f"{per_1000:g} per 1,000 ({transactions} transactions)"
    )


@app.command()
def record(
    merchant: Annotated[str, typer.Option("--merchant", help="Merchant ID / 商户号.")],
    topic: Annotated[
        list[str],
        typer.Option("--topic", help="An operator-error code trained (OPS.*); repeat for more."),
    ],
    trainer: Annotated[str, typer.Option("--trainer", help="Who gave the training / 培训人.")],
    operator: Annotated[
        str, typer.Option("--operator", help="Operator ID trained (blank: the whole shop).")
    ] = "",
    held_on: Annotated[
        str | None, typer.Option("--date", help="Day held, YYYY-MM-DD (default: today, UTC).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note / 备注.")] = "",
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL)."),
    ] = None,
    lang: LangOption = None,
) -> None:
    """Record a training session held, and show its topics' error rate before and after /
    记录一次培训，并显示培训前后的差错率."""
    from posguard.catalog import default_catalog
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.training.form import SessionForm, record_form
    from posguard.fleet.training.training_list import session_effect

    zh = resolve_lang(lang) != "en"
    now = datetime.now(UTC)
    form = SessionForm(
        merchant, operator, list(topic), trainer, held_on or now.date().isoformat(), note
    )
    with fleet_errors("training record", "记录培训"):
        engine = make_engine(fleet_settings(db).database_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                result = record_form(session, form, default_catalog(), now)
                if isinstance(result, list):
                    raise CliError(
                        "; ".join(p.en for p in result),
                        "；".join(p.zh for p in result),
                        exit_code=ExitCode.USAGE,
                    )
                effect = session_effect(session, result, now=now)
        finally:
            engine.dispose()
    before = _rate(effect.before_per_1000, effect.before_transactions, zh)
    after = _rate(effect.after_per_1000, effect.after_transactions, zh)
    who = effect.operator or ("全店" if zh else "whole shop")
    topics = ", ".join(effect.topics)
    if zh:
        typer.echo(
            f"已记录培训 #{effect.id}：商户 {effect.merchant_id}，操作员 {who}，主题 {topics}，"
            f"培训人 {effect.trainer}，{effect.held_at:%Y-%m-%d}"
        )
        typer.echo(f"培训前 28 天：{before}")
        typer.echo(f"培训后 {effect.after_days:g} 天：{after}")
    else:
        typer.echo(
            f"recorded training #{effect.id}: merchant {effect.merchant_id}, operator {who}, "
            f"topics {topics}, trainer {effect.trainer}, {effect.held_at:%Y-%m-%d}"
        )
        typer.echo(f"28 days before: {before}")
        typer.echo(f"{effect.after_days:g} days after: {after}")
