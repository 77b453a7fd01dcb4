"""Fixtures for catalog tests: a valid entry to mutate, and a way to write catalog dirs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

VALID_ENTRY: dict[str, Any] = {
    "code": "PRN.PAPER_OUT",
    "category": "hardware",
    "severity": "minor",
    "audience": ["merchant"],
    "iso_response_codes": [],
    "auto": {
        "zh": "小票排队，装纸后自动打印。",
        "en": "Receipts queue and print once paper is in.",
    },
    "title": {"zh": "打印机缺纸", "en": "Printer out of paper"},
    "symptoms": {"zh": ["小票出不来"], "en": ["receipt won't come out"]},
    "steps": [
        {"zh": "打开纸仓盖。", "en": "Open the paper cover."},
        {"zh": "装纸并盖好。", "en": "Load paper and close the cover.", "check": "printer.status"},
    ],
}


def entry(**changes: Any) -> dict[str, Any]:
    """A deep copy of the valid entry with top-level keys replaced."""
    e = copy.deepcopy(VALID_ENTRY)
    e.update(changes)
    return e


@pytest.fixture
def valid_entry() -> Callable[..., dict[str, Any]]:
    return entry


WriteCatalog = Callable[..., Path]


@pytest.fixture
def write_catalog(tmp_path: Path) -> WriteCatalog:
    """Write ``{file name: list of entries | raw text}`` into a fresh directory."""

    def write(**files: list[dict[str, Any]] | str) -> Path:
        d = tmp_path / "catalog"
        d.mkdir(exist_ok=True)
        for name, content in files.items():
            text = (
                content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
            )
            (d / f"{name}.yaml").write_text(text, encoding="utf-8")
        return d

    return write
