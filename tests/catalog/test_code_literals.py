"""Every catalog code that the code base writes as a literal exists in the catalog.

A code is the one name of a fault (docs/architecture.md, "Every fault is named by a catalog
code; nothing else invents a fault name"). A literal such as ``"PRN.PAPER_OUT"`` in a rule
file, a template or a Python module that the catalog does not hold is a fault nobody can
look up, translate or walk: this test finds such drift wherever it is written.
"""

from __future__ import annotations

import re
from pathlib import Path

from posguard.catalog import default_catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "posguard"
DOMAINS = "NET|DEV|SW|TXN|CARD|PRN|CFG|TP|REG|RECON|OPS"
# A code in quotes (Python, YAML, JS, HTML attributes) or standing alone in YAML data.
QUOTED = re.compile(rf"""["'`]((?:{DOMAINS})\.[A-Z][A-Z0-9_]+)["'`]""")
YAML_BARE = re.compile(rf"(?:^|[\s\[,:{{])((?:{DOMAINS})\.[A-Z][A-Z0-9_]+)(?=$|[\s\],}}#])", re.M)
SUFFIXES = {".py", ".yaml", ".yml", ".html", ".js", ".jinja"}
# Doctest examples of a malformed catalog entry name a code that must not exist.
EXAMPLES = {"NET.X1"}


def _literals() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        codes = set(QUOTED.findall(text))
        if path.suffix in {".yaml", ".yml"}:
            codes |= set(YAML_BARE.findall(text))
        for code in codes - EXAMPLES:
            found.setdefault(code, []).append(str(path.relative_to(SRC)))
    return found


def test_the_scan_sees_the_codes_the_code_base_uses() -> None:
    """The scan is not vacuous: codes known to be used by the terminal and the rules show up."""
    found = _literals()
    assert {"PRN.PAPER_OUT", "NET.READ_TIMEOUT", "DEV.FREEZE", "TXN.MAC_ERROR"} <= set(found)
    assert len(found) >= 40


def test_every_literal_code_is_in_the_catalog() -> None:
    catalog = default_catalog()
    unknown = {code: where for code, where in _literals().items() if code not in catalog}
    assert unknown == {}, f"codes written in src/ but missing from the catalog: {unknown}"
