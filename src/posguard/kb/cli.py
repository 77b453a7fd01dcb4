"""`posguard kb ...`: search the runbooks, walk one step by step, measure accuracy."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from posguard.catalog.checks import CHECKS, CheckResult
from posguard.common.errors import PosguardError
from posguard.kb.search import MAX_LIMIT, KnowledgeBase, guess_lang
from posguard.kb.wizard import (
    Answer,
    CheckOutcome,
    CheckRequest,
    CheckRunner,
    Status,
    Wizard,
)

app = typer.Typer(
    help="Knowledge base: search and guided troubleshooting / 知识库：搜索与引导排障."
)

_ANSWER_WORDS: Mapping[str, Answer] = {
    "1": Answer.SOLVED,
    "s": Answer.SOLVED,
    "y": Answer.SOLVED,
    "solved": Answer.SOLVED,
    "解决": Answer.SOLVED,
    "好了": Answer.SOLVED,
    "2": Answer.NOT_SOLVED,
    "n": Answer.NOT_SOLVED,
    "not_solved": Answer.NOT_SOLVED,
    "没解决": Answer.NOT_SOLVED,
    "没好": Answer.NOT_SOLVED,
    "3": Answer.CANT,
    "c": Answer.CANT,
    "cant": Answer.CANT,
    "做不了": Answer.CANT,
    "4": Answer.ESCALATE,
    "e": Answer.ESCALATE,
    "escalate": Answer.ESCALATE,
    "转人工": Answer.ESCALATE,
}
_MENU = {
    "zh": "1=做完了，好了  2=做完了，还不行  3=做不了  4=转人工",
    "en": "1=done, solved  2=done, not solved  3=can't do it  4=hand over to a person",
}
MAX_PROMPTS = 100


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The complaint, in Chinese or English.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of {code, score, ...}, best first.")
    ] = False,
    lang: Annotated[str | None, typer.Option(help="zh or en (default: from the query).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many entries.")] = 5,
) -> None:
    """Search the runbooks / 搜索故障处理手册."""
    result = KnowledgeBase.default().search(query, limit=limit, lang=lang)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        typer.echo(json.dumps([h.to_dict(result.lang) for h in result.hits], ensure_ascii=False))
        if result.reason:
            typer.echo(f"no results: {result.reason}", err=True)
        return
    console = Console()
    if not result.hits:
        msg = "没有结果" if result.lang == "zh" else "no results"
        console.print(f"{msg}: {escape(result.reason or '')}")
        return
    table = Table("#", "code", "score", "title", "why")
    for i, hit in enumerate(result.hits, start=1):
        table.add_row(
            str(i),
            hit.code,
            f"{hit.score:.2f}",
            escape(hit.entry.title.get(result.lang)),
            escape(hit.why(result.lang)),
        )
    console.print(table)


def _adapt(raw: Any) -> CheckOutcome:
    """Turn whatever a face's check function returns (the terminal doctor's ``CheckReport``:
    ``result``, ``detail``, ``code``) into a :class:`CheckOutcome`."""
    if isinstance(raw, CheckOutcome):
        return raw
    result = getattr(raw, "result", None) or getattr(raw, "status", None)
    detail = str(getattr(raw, "detail", "") or "")
    code = getattr(raw, "code", None)
    if isinstance(raw, tuple) and raw:
        result, detail = raw[0], str(raw[1]) if len(raw) > 1 else ""
    if isinstance(code, str) and code and code not in detail:
        detail = f"{code}: {detail}" if detail else code
    try:
        return CheckOutcome(CheckResult(str(getattr(result, "value", result))), detail)
    except ValueError:
        return CheckOutcome(CheckResult.UNAVAILABLE, f"unexpected check result {result!r}")


def doctor_runners(config_path: Path | None) -> dict[str, CheckRunner]:
    """Runners for the terminal doctor's checks against the terminal config at
    ``config_path``; empty without a config or without the terminal face installed (every
    step is then asked of the person). Imported at run time: the kb package itself never
    depends on the terminal."""
    if config_path is None:
        return {}
    try:
        doctor = importlib.import_module("posguard.terminal.doctor")
    except ImportError:
        return {}
    config = doctor.load_doctor_config(config_path)

    def runner(req: CheckRequest) -> CheckOutcome:
        return _adapt(doctor.run_check(req.check_id, config))

    return {cid: runner for cid in doctor.ALL_CHECKS if cid in CHECKS}


def _ask(console: Console, lang: str) -> Answer | None:
    console.print(_MENU[lang])
    for _ in range(5):
        line = sys.stdin.readline()
        if not line:
            return None
        word = line.strip().lower()
        if word in _ANSWER_WORDS:
            return _ANSWER_WORDS[word]
        console.print("请输入 1-4" if lang == "zh" else "please type 1-4")
    return None


@app.command()
def walk(
    target: Annotated[str, typer.Argument(help="A catalog code (PRN.PAPER_OUT) or a complaint.")],
    lang: Annotated[str | None, typer.Option(help="zh or en.")] = None,
    terminal: Annotated[str | None, typer.Option(help="Terminal id, for the checks.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Terminal config file: run the doctor's checks against it."),
    ] = None,
) -> None:
    """Walk a runbook step by step / 按步骤引导排障."""
    kb = KnowledgeBase.default()
    lang = "zh" if (lang or guess_lang(target)).lower().startswith("zh") else "en"
    console = Console()
    code = target.strip().upper()
    if code not in kb.catalog:
        found = kb.search(target, limit=1, lang=lang)
        if not found.hits:
            typer.echo(f"no runbook found: {found.reason}", err=True)
            raise typer.Exit(2)
        code = found.hits[0].code
        console.print(
            ("匹配：" if lang == "zh" else "matched: ") + escape(found.hits[0].why(lang)),
            style="dim",
        )
    try:
        runners = doctor_runners(config)
    except PosguardError as exc:
        typer.echo(f"cannot use {config}: {exc}", err=True)
        raise typer.Exit(2) from exc
    wizard = Wizard.start(code, terminal_id=terminal, lang=lang, runners=runners)
    console.print(f"[bold]{code}[/bold]  {escape(wizard.entry.title.get(lang))}")
    for _ in range(MAX_PROMPTS):
        view = wizard.prompt()
        step = view["step"]
        if step is None:
            break
        check = step["check"]
        if check:
            console.print(
                f"  [dim]check {check['id']}: {check['result']}"
                f" {escape(check['detail'] or '')} {escape(check['meaning'] or '')}[/dim]"
            )
        console.print(f"[bold]{step['number']}/{step['of']}[/bold] {escape(step['text'])}")
        answer = _ask(console, lang)
        if answer is None:
            wizard.answer(Answer.ESCALATE, "no answer (input ended)")
            break
        wizard.answer(answer)
    state = wizard.state
    if state.status is Status.SOLVED:
        console.print("[green]已解决[/green]" if lang == "zh" else "[green]Solved.[/green]")
        return
    console.print(
        "[yellow]需要人工处理，已生成转交记录：[/yellow]"
        if lang == "zh"
        else "[yellow]Handing over to a person; escalation record:[/yellow]"
    )
    typer.echo(wizard.escalation().model_dump_json(indent=2))
    raise typer.Exit(3)


@app.command("eval")
def eval_(
    path: Annotated[str | None, typer.Argument(help="Evaluation set (YAML).")] = None,
) -> None:
    """Print top-1 / top-3 accuracy on the evaluation set / 评估搜索准确率."""
    from posguard.kb import evaluate

    raise typer.Exit(evaluate.main([path] if path else []))
