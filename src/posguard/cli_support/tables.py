"""Tables that fit the terminal and never cut what a person must copy.

A column is either *kept whole* (a code, an ID, an amount, a date: set to its widest cell,
never wrapped or cut) or *text* (wraps, folding Chinese anywhere and English at spaces).
When the terminal is too narrow, the columns with the highest ``drop`` rank are left out
first; when even that is not enough, every row is printed as ``header: value`` lines.

>>> import io
>>> from rich.console import Console
>>> console = Console(width=44, record=True, file=io.StringIO())
>>> cols = [Col("code", keep=True), Col("title"), Col("note", drop=1)]
>>> row = ["TXN.INSUFFICIENT_FUNDS", "Not enough money on the card", "a long note"]
>>> console.print(fit_table(cols, [row], width=44))
>>> text = console.export_text()
>>> "TXN.INSUFFICIENT_FUNDS" in text, "note" in text, max(map(len, text.splitlines()))
(True, False, 44)
>>> console.print(fit_table(cols, [row], width=30))
>>> console.export_text().splitlines()[0]
'code: TXN.INSUFFICIENT_FUNDS'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

TEXT_MIN = 12
"""The narrowest a wrapping text column is allowed to get."""


@dataclass(frozen=True, slots=True)
class Col:
    header: str
    keep: bool = False  # a code, ID, amount or date: never cut, never wrapped
    drop: int = 0  # 0: always shown; otherwise left out first when the width is short
    justify: Literal["left", "right"] = "left"


def _plain(cell: str, markup: bool) -> str:
    return Text.from_markup(cell).plain if markup else cell


def _widest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines() or [""]), default=0)


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _needs(col: Col, cells: list[str]) -> int:
    """The narrowest width this column can take without cutting anything it must keep."""
    if col.keep:
        return max(_longest_word(col.header), *(_widest_line(c) for c in cells), 1)
    natural = max(_widest_line(col.header), *(_widest_line(c) for c in cells), 1)
    # a Latin word (an ID in a list, a number) is never folded; Chinese may fold anywhere
    latin = [w for c in cells for w in c.split() if w.isascii()]
    longest = max((cell_len(w) for w in latin), default=0)
    return min(natural, max(TEXT_MIN, longest))


def _table_width(widths: Sequence[int]) -> int:
    """Width of a boxed table: each column's padding (1 + 1) and one border per column + 1."""
    return sum(w + 2 for w in widths) + len(widths) + 1


def fit_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    width: int,
    title: str | None = None,
    markup: bool = False,
    row_styles: Sequence[str | None] | None = None,
) -> RenderableType:
    """A table of ``rows`` that fits ``width`` columns (see the module docstring)."""
    plain = [[_plain(c, markup) for c in row] for row in rows]
    needs = [_needs(col, [row[i] for row in plain]) for i, col in enumerate(cols)]
    shown = list(range(len(cols)))
    while _table_width([needs[i] for i in shown]) > width:
        droppable = [i for i in shown if cols[i].drop > 0]
        if not droppable:
            return _stacked(cols, rows, title=title, markup=markup)
        shown.remove(max(droppable, key=lambda i: (cols[i].drop, i)))
    table = Table(title=title, highlight=False)
    for i in shown:
        col = cols[i]
        if col.keep:
            table.add_column(
                col.header, width=needs[i], no_wrap=True, overflow="fold", justify=col.justify
            )
        else:
            table.add_column(col.header, overflow="fold", justify=col.justify)
    for n, row in enumerate(rows):
        cells = [Text.from_markup(row[i]) if markup else Text(row[i]) for i in shown]
        style = row_styles[n] if row_styles else None
        table.add_row(*cells, style=style)
    return table


def _stacked(
    cols: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None, markup: bool
) -> RenderableType:
    """Too narrow for any table: each row as ``header: value`` lines, a blank line between."""
    parts: list[RenderableType] = [Text(title, style="italic")] if title else []
    for n, row in enumerate(rows):
        if n:
            parts.append(Text(""))
        for col, cell in zip(cols, row, strict=True):
            line = Text(f"{col.header}: ")
            line.append_text(Text.from_markup(cell) if markup else Text(cell))
            parts.append(line)
    return Group(*parts)
