"""`posguard catalog ...`: list, show and validate exception-catalog entries."""

from __future__ import annotations

import json
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from posguard.catalog.checks import CHECKS
from posguard.catalog.loader import DATA_DIR, default_catalog, load_catalog
from posguard.catalog.model import Category, Entry
from posguard.common.errors import CatalogError

app = typer.Typer(help="The exception catalog / 异常目录.", no_args_is_help=True)

_LANGS = ("zh", "en")


def _entry_json(entry: Entry) -> dict[str, object]:
    return entry.model_dump(mode="json")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print every entry as JSON.")] = False,
    category: Annotated[
        str | None,
        typer.Option(help=f"Only this category: {', '.join(c.value for c in Category)}."),
    ] = None,
) -> None:
    """List every catalog entry / 列出全部条目."""
    cat = default_catalog()
    if category is None:
        entries = cat.entries()
    else:
        try:
            entries = cat.by_category(category)
        except ValueError:
            valid = ", ".join(c.value for c in Category)
            typer.echo(f"unknown category {category!r}; use one of: {valid}", err=True)
            raise typer.Exit(2) from None
    if as_json:
        payload = [_entry_json(e) for e in entries]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    table = Table("code", "category", "severity", "rc", "title")
    for e in entries:
        table.add_row(
            e.code,
            e.category.value,
            e.severity.value,
            " ".join(e.iso_response_codes),
            f"{e.title.zh} / {e.title.en}",
        )
    Console(markup=False, highlight=False).print(table)


def _render(entry: Entry, lang: str) -> str:
    zh = lang == "zh"
    label = {
        "who": "需要处理的人" if zh else "Who acts",
        "rc": "对应应答码" if zh else "Response codes",
        "auto": "系统已自动处理" if zh else "What posguard already does",
        "symptoms": "常见说法" if zh else "How people describe it",
        "steps": "处理步骤" if zh else "Steps",
        "check": "自动检查" if zh else "machine check",
    }
    lines = [
        f"{entry.code}  {entry.title.get(lang)}",
        f"{entry.category.value} · {entry.severity.value} · "
        f"{label['who']}: {', '.join(a.value for a in entry.audience)}",
    ]
    if entry.iso_response_codes:
        lines.append(f"{label['rc']}: {', '.join(entry.iso_response_codes)}")
    lines += ["", f"{label['auto']}: {entry.auto.get(lang)}", "", f"{label['symptoms']}:"]
    symptoms = entry.symptoms.zh if zh else entry.symptoms.en
    lines += [f"  - {s}" for s in symptoms]
    lines += ["", f"{label['steps']}:"]
    for i, step in enumerate(entry.steps, start=1):
        lines.append(f"  {i}. {step.get(lang)}")
        if step.check:
            lines.append(
                f"     [{label['check']}: {step.check} — {CHECKS[step.check].title.get(lang)}]"
            )
    return "\n".join(lines)


@app.command()
def show(
    code: Annotated[str, typer.Argument(help="A catalog code, e.g. PRN.PAPER_OUT.")],
    lang: Annotated[str, typer.Option(help="zh or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="Print the entry as JSON.")] = False,
) -> None:
    """Show one entry with its steps / 显示一个条目及处理步骤."""
    lang = lang.lower().split("-")[0]
    if lang not in _LANGS:
        typer.echo(f"unknown language {lang!r}; use zh or en", err=True)
        raise typer.Exit(2)
    cat = default_catalog()
    entry = cat.get(code.strip().upper())
    if entry is None:
        near = get_close_matches(code.strip().upper(), list(cat), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        typer.echo(f"unknown code {code!r} / 未知代码{hint}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(_entry_json(entry), ensure_ascii=False, indent=2))
        return
    typer.echo(_render(entry, lang))


@app.command()
def validate(
    directory: Annotated[
        Path | None,
        typer.Argument(help="A directory of catalog *.yaml files (default: the shipped catalog)."),
    ] = None,
) -> None:
    """Load a catalog directory and report OK or the first fault / 校验目录数据."""
    where = directory or DATA_DIR
    try:
        cat = load_catalog(where)
    except CatalogError as exc:
        typer.echo(f"ERROR {where}: {exc}", err=True)
        raise typer.Exit(1) from None
    files = len(list(where.glob("*.yaml")))
    rcs = sum(len(e.iso_response_codes) for e in cat.values())
    typer.echo(f"OK {where}: {len(cat)} entries in {files} files, {rcs} response codes mapped")
