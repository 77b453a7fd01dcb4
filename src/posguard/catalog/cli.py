"""`posguard catalog ...`: list and show exception-catalog entries."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from posguard.catalog.loader import default_catalog

app = typer.Typer(help="The exception catalog / 异常目录.", no_args_is_help=True)


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print every entry as JSON.")] = False,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
) -> None:
    """List every catalog entry / 列出全部条目."""
    cat = default_catalog()
    entries = cat.by_category(category) if category else cat.entries()
    if as_json:
        typer.echo(
            json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False, indent=2)
        )
        return
    table = Table("code", "category", "severity", "title")
    for e in entries:
        table.add_row(e.code, e.category.value, e.severity.value, f"{e.title.zh} / {e.title.en}")
    Console().print(table)


@app.command()
def show(code: str, lang: Annotated[str, typer.Option(help="zh or en")] = "zh") -> None:
    """Show one entry with its steps / 显示一个条目及处理步骤."""
    cat = default_catalog()
    entry = cat.get(code.upper())
    if entry is None:
        typer.echo(f"unknown code {code!r} / 未知代码", err=True)
        raise typer.Exit(2)
    console = Console()
    console.print(f"[bold]{entry.code}[/bold]  {entry.title.get(lang)}  ({entry.severity.value})")
    console.print(entry.auto.get(lang))
    for i, step in enumerate(entry.steps, start=1):
        console.print(f"{i}. {step.get(lang)}")
