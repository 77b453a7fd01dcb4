"""Counts written in the docs are checked against the data they count, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from posguard.catalog import default_catalog
from posguard.kb.evaluate import load_cases

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_counts_every_catalog_fault() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    said = [int(n) for n in re.findall(r"\b(\d+) faults\b", readme)]
    assert said, "README.md no longer says how many faults the catalog has"
    assert said == [len(default_catalog())] * len(said), (
        f"README.md says {said} faults; the catalog has {len(default_catalog())}"
    )


def test_the_architecture_doc_counts_the_evaluation_sets() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    main = len(load_cases(ROOT / "tests" / "data" / "kb_eval.yaml"))
    holdout = len(load_cases(ROOT / "tests" / "data" / "kb_eval_holdout.yaml"))
    assert f"`tests/data/kb_eval.yaml` ({main} complaints" in doc
    assert f"`tests/data/kb_eval_holdout.yaml` ({holdout}," in doc
