"""A small catalog with machine checks on its steps, independent of the shipped data."""

from __future__ import annotations

import pytest

from posguard.catalog.loader import Catalog
from posguard.catalog.model import Entry


@pytest.fixture
def walk_catalog() -> Catalog:
    entry = Entry.model_validate(
        {
            "code": "PRN.PAPER_OUT",
            "category": "hardware",
            "severity": "minor",
            "audience": ["merchant"],
            "auto": {
                "zh": "收据排队，装纸后补打。",
                "en": "Receipts queue and print after reload.",
            },
            "title": {"zh": "打印机缺纸", "en": "Printer out of paper"},
            "symptoms": {"zh": ["不出纸"], "en": ["no paper"]},
            "steps": [
                {"zh": "看打印机状态。", "en": "Look at the printer.", "check": "printer.status"},
                {"zh": "装一卷新纸。", "en": "Load a new roll."},
                {"zh": "打印测试页。", "en": "Print a test slip.", "check": "printer.test_print"},
            ],
        }
    )
    return Catalog([entry])
