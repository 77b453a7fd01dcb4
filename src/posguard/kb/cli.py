"""`posguard kb ...`: search the runbooks, walk one step by step, measure accuracy."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from posguard.catalog.checks import CHECKS, CheckResult
from posguard.catalog.cli import unknown_code
from posguard.catalog.labels import audience_text
from posguard.catalog.suggest import close_codes
from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.cli_support.tables import Col, fit_table
from posguard.common.errors import PosguardError
from posguard.kb.filing import file_handover, step_lines
from posguard.kb.search import MAX_LIMIT, KnowledgeBase, SearchResult
from posguard.kb.wizard import (
    Answer,
    CheckOutcome,
    CheckRecord,
    CheckRequest,
    CheckRunner,
    Escalation,
    Status,
    Wizard,
)

app = FaceApp(help="Knowledge base: search and guided troubleshooting / 知识库：搜索与引导排障.")

RECORD_DIR = Path("var") / "kb"
"""Where `kb walk` saves hand-over records unless --record names a file."""
_CODE_SHAPE = re.compile(r"^[A-Za-z]{2,6}\.[A-Za-z0-9_]+$")
_REASONS_ZH = {
    "empty query": "没有输入内容",
    "no searchable words in the query": "输入里没有可以搜索的词",
    "nothing in the catalog matches these words": "目录里没有与这些词相符的条目",
}

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


def _reason(result: SearchResult, lang: str) -> str:
    reason = result.reason or ""
    return _REASONS_ZH.get(reason, reason) if lang == "zh" else reason


def _no_hits(query: str, result: SearchResult, lang: str) -> CliError:
    if result.reason == "empty query":
        return CliError(
            'the complaint is empty: say what happens, e.g. posguard kb search "receipt '
            "won't print\"",
            '没有输入问题描述：请说明发生了什么，例如 posguard kb search "小票打不出来"',
            exit_code=ExitCode.USAGE,
        )
    near = close_codes(query, list(KnowledgeBase.default().catalog))
    tail_en = f"; did you mean {', '.join(near)}?" if near else "; try other words"
    tail_zh = f"；您要找的是不是 {'、'.join(near)}？" if near else "；请换个说法"
    return CliError(
        f"no runbook found for {query!r}: {_reason(result, 'en')}{tail_en}",
        f"没有找到与 {query!r} 相符的处理手册：{_reason(result, 'zh')}{tail_zh}",
        exit_code=ExitCode.NOT_FOUND,
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The complaint, in Chinese or English.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of {code, score, ...}, best first.")
    ] = False,
    lang: LangOption = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many entries.")] = 5,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the score and why each entry matched.")
    ] = False,
) -> None:
    """Search the runbooks / 搜索故障处理手册.

    Exit status 2 for an empty complaint, 4 when nothing matches."""
    assert lang is not None  # resolved by FaceApp
    result = KnowledgeBase.default().search(query, limit=limit, lang=lang)
    for note in result.notes:
        typer.echo(("注意：" if lang == "zh" else "note: ") + note, err=True)
    if as_json:
        typer.echo(json.dumps([h.to_dict(lang) for h in result.hits], ensure_ascii=False))
    if not result.hits:
        raise _no_hits(query, result, lang)
    if as_json:
        return
    zh = lang == "zh"
    cols = [
        Col("#", keep=True),
        Col("代码" if zh else "code", keep=True),
        Col("问题" if zh else "title"),
        Col("谁来处理" if zh else "who acts", drop=1),
    ]
    if explain:
        cols.append(Col("得分" if zh else "score", keep=True, drop=2, justify="right"))
    rows = []
    for i, hit in enumerate(result.hits, start=1):
        row = [str(i), hit.code, hit.entry.title.get(lang), audience_text(hit.entry.audience, lang)]
        if explain:
            row.append(f"{hit.score:.2f}")
        rows.append(row)
    console = Console(highlight=False)
    console.print(fit_table(cols, rows, width=console.width))
    if explain:
        for hit in result.hits:
            console.print(f"{hit.code}: {escape(hit.why(lang))}", style="dim")
    top = result.hits[0].code
    console.print(
        f"下一步：posguard kb walk {top}" if zh else f"next: posguard kb walk {top}",
        markup=False,
        soft_wrap=True,
    )


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


def _resolve_target(kb: KnowledgeBase, target: str, lang: str, console: Console) -> str:
    """The catalog code to walk: the code typed, else the best runbook for the complaint."""
    code = target.strip().upper()
    if code in kb.catalog:
        return code
    if _CODE_SHAPE.match(target.strip()):
        raise unknown_code(target, list(kb.catalog))
    found = kb.search(target, limit=1, lang=lang)
    if not found.hits:
        raise _no_hits(target, found, lang)
    hit = found.hits[0]
    console.print(
        f"{'匹配' if lang == 'zh' else 'matched'}: {hit.code} {hit.entry.title.get(lang)}",
        style="dim",
        markup=False,
    )
    return hit.code


def _say_check(console: Console, rec: CheckRecord, of: int, lang: str, *, skipped: bool) -> None:
    """A machine check's result, said as such: which check, what it found, what it means."""
    text = CHECKS[rec.check].meaning(rec.result) if rec.check in CHECKS else None
    meaning = f" — {text.get(lang)}" if text else ""
    detail = f" ({rec.detail})" if rec.detail else ""
    if skipped:
        head = (
            f"{rec.step}/{of} 已由自动检查 {rec.check} 回答：{rec.result.value}"
            if lang == "zh"
            else f"{rec.step}/{of} answered by machine check {rec.check}: {rec.result.value}"
        )
    else:
        head = (
            f"自动检查 {rec.check}：{rec.result.value}"
            if lang == "zh"
            else f"machine check {rec.check}: {rec.result.value}"
        )
    console.print(f"{head}{detail}{meaning}", style="dim", markup=False)


def _save_record(record: Escalation, path: Path | None) -> Path:
    """Write the hand-over record (JSON) atomically; a default name under var/kb/."""
    if path is None:
        stamp = record.ended_at.strftime("%Y%m%dT%H%M%SZ")
        path = RECORD_DIR / f"handover-{record.code}-{stamp}-{record.session_id[:8]}.json"
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CliError(
            f"cannot save the hand-over record to {path}: {exc.strerror or exc}",
            f"无法把转交记录保存到 {path}：{exc.strerror or exc}",
        ) from exc
    return path


def _say_record(console: Console, record: Escalation, of: int, lang: str) -> None:
    console.print(("原因：" if lang == "zh" else "reason: ") + record.reason, markup=False)
    for line in step_lines(record, of, lang):
        console.print(f"  {line}", markup=False)


@app.command()
def walk(
    target: Annotated[str, typer.Argument(help="A catalog code (PRN.PAPER_OUT) or a complaint.")],
    lang: LangOption = None,
    terminal: Annotated[str | None, typer.Option(help="Terminal id, for the checks.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Terminal config file: run the doctor's checks against it, and file a "
            "hand-over on the fleet it names (agent.url, agent.token)."
        ),
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Save the hand-over record here (default: var/kb/handover-CODE-TIME.json).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the hand-over record as JSON.")
    ] = False,
) -> None:
    """Walk a runbook step by step / 按步骤引导排障.

    Answers on stdin: 1 solved, 2 not solved, 3 can't do it, 4 hand over. Exit status 0
    solved, 3 handed over (the record is saved to a file and, when --config names the
    fleet, filed on the terminal's timeline), 4 unknown code."""
    assert lang is not None  # resolved by FaceApp
    kb = KnowledgeBase.default()
    console = Console(highlight=False)
    code = _resolve_target(kb, target, lang, console)
    try:
        runners = doctor_runners(config)
    except PosguardError as exc:
        raise CliError(f"cannot use {config}: {exc}", f"无法使用 {config}：{exc}") from exc
    wizard = Wizard.start(code, terminal_id=terminal, lang=lang, runners=runners)
    of = len(wizard.entry.steps)
    console.print(f"[bold]{code}[/bold]  {escape(wizard.entry.title.get(lang))}")
    said = 0
    for _ in range(MAX_PROMPTS):
        view = wizard.prompt()
        step = view["step"]
        number = step["number"] if step else of + 1
        for rec in wizard.state.checks[said:]:
            _say_check(console, rec, of, lang, skipped=rec.step < number)
        said = len(wizard.state.checks)
        if step is None:
            break
        console.print(f"[bold]{step['number']}/{step['of']}[/bold] {escape(step['text'])}")
        answer = _ask(console, lang)
        if answer is None:
            wizard.answer(Answer.ESCALATE, "no answer (input ended)")
            break
        wizard.answer(answer)
        if answer is Answer.CANT:
            console.print(
                f"已记录：第 {step['number']} 步做不了"
                if lang == "zh"
                else f"recorded: step {step['number']} could not be done",
                style="dim",
                markup=False,
            )
    if wizard.state.status is Status.SOLVED:
        console.print("[green]已解决[/green]" if lang == "zh" else "[green]Solved.[/green]")
        return
    escalation = wizard.escalation()
    path = _save_record(escalation, record)
    console.print(
        "[yellow]需要人工处理，转交记录：[/yellow]"
        if lang == "zh"
        else "[yellow]Handing over to a person; the record:[/yellow]"
    )
    _say_record(console, escalation, of, lang)
    console.print(
        f"转交记录已保存：{path}" if lang == "zh" else f"record saved to {path}",
        markup=False,
        soft_wrap=True,
    )
    filing = file_handover(escalation, of=of, lang=lang, record_file=path, config=config)
    console.print(filing.say(lang), markup=False, soft_wrap=True)
    if as_json:
        typer.echo(escalation.model_dump_json(indent=2))
    raise typer.Exit(ExitCode.HANDED_OVER)


@app.command("eval")
def eval_(
    path: Annotated[str | None, typer.Argument(help="Evaluation set (YAML).")] = None,
    lang: LangOption = None,
) -> None:
    """Print top-1 / top-3 accuracy on the evaluation set / 评估搜索准确率."""
    from posguard.kb import evaluate

    raise typer.Exit(evaluate.main([*([path] if path else []), "--lang", lang or "zh"]))


@app.command()
def manual(
    model: Annotated[str, typer.Option(help="Terminal model, e.g. A920 / 终端型号")] = "A920",
    merchant_type: Annotated[
        str, typer.Option("--merchant-type", help="Merchant category code, e.g. 5411 / 商户类型")
    ] = "5411",
    html: Annotated[Path | None, typer.Option(help="Write the printable HTML here")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Write the PDF here (needs Chromium)")] = None,
    lang: LangOption = None,
) -> None:
    """The operating manual for one terminal model and merchant type, bilingual, as printable
    HTML and PDF / 生成操作手册."""
    from posguard.catalog import default_catalog
    from posguard.kb.manual import build_manual, render_html, render_pdf

    try:
        book = build_manual(default_catalog(), model=model, merchant_type=merchant_type)
        page = render_html(book)
        if html is None and pdf is None:
            typer.echo(page)
            return
        if html is not None:
            html.write_text(page, encoding="utf-8")
        if pdf is not None:
            pdf.write_bytes(render_pdf(page))
    except (PosguardError, OSError) as exc:
        raise CliError(f"manual: {exc}", f"操作手册：{exc}") from exc
    for out in (html, pdf):
        if out is not None:
            typer.echo(f"{out}")
