"""The field-39 table in docs/iso8583-profile.md and the catalog agree, both ways.

The test parses the markdown table itself, so neither the doc nor the catalog can drift.
"""

from __future__ import annotations

import re
from pathlib import Path

from posguard.catalog import default_catalog

DOC = Path(__file__).resolve().parents[2] / "docs" / "iso8583-profile.md"
_ROW = re.compile(r"^\|\s*([0-9A-Z]{2})\s*\|\s*([^|]+?)\s*\|\s*([A-E])\s*\|")


def doc_table() -> dict[str, str | None]:
    """rc -> catalog code (None for approved) from the "Response codes and catalog codes" table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Response codes and catalog codes", 1)[1]
    rows: dict[str, str | None] = {}
    for line in section.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        rc, code = m.group(1), m.group(2)
        assert rc not in rows, f"{rc} appears twice in the doc table"
        rows[rc] = None if code.startswith("(") else code
    return rows


def test_the_doc_table_parses() -> None:
    rows = doc_table()
    assert rows["00"] is None
    assert rows["51"] == "TXN.INSUFFICIENT_FUNDS"
    assert len(rows) >= 40


def test_every_doc_row_maps_to_that_catalog_entry() -> None:
    cat = default_catalog()
    wrong = {}
    for rc, code in doc_table().items():
        owner = cat.by_response_code(rc)
        got = owner.code if owner else None
        if got != code:
            wrong[rc] = (code, got)
    assert wrong == {}, "rc: (doc, catalog)"


def test_the_catalog_maps_no_code_the_doc_does_not_list() -> None:
    doc = {rc for rc, code in doc_table().items() if code}
    assert set(default_catalog().response_codes()) == doc


def test_each_response_code_has_exactly_one_owner() -> None:
    owners: dict[str, list[str]] = {}
    for entry in default_catalog().values():
        for rc in entry.iso_response_codes:
            owners.setdefault(rc, []).append(entry.code)
    assert {rc: o for rc, o in owners.items() if len(o) != 1} == {}
