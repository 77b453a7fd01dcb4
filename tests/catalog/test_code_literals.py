"""Every catalog code that the code base writes as a literal exists in the catalog.

A code is the one name of a fault (docs/architecture.md, "Every fault is named by a catalog
code; nothing else invents a fault name"). A literal such as ``"PRN.PAPER_OUT"`` in a rule
file, a template or a Python module that the catalog does not hold is a fault nobody can
look up, translate or walk: this test finds such drift wherever it is written: every text
file under ``src/posguard`` (whatever its kind: Python, YAML, templates, scripts, JSON and CSV
data), and the benchmarks and deployment files beside it. The domains are the catalog's own
(``catalog.model.DOMAINS``), so a new domain is scanned as soon as the catalog accepts it.
"""

from __future__ import annotations

import re
from pathlib import Path

from posguard.catalog import default_catalog
from posguard.catalog.model import DOMAINS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (ROOT / "src" / "posguard", ROOT / "bench", ROOT / "deploy")
_CODE = rf"(?:{'|'.join(DOMAINS)})\.[A-Z][A-Z0-9_]+"
# A code in quotes (Python, YAML, JSON, JS, HTML attributes) or standing alone in YAML or
# CSV data.
QUOTED = re.compile(rf"""["'`]({_CODE})["'`]""")
BARE = re.compile(rf"(?:^|[\s\[,:{{])({_CODE})(?=$|[\s\],}}#])", re.M)
BARE_SUFFIXES = {".yaml", ".yml", ".csv"}
# Doctest examples of a malformed catalog entry name a code that must not exist.
EXAMPLES = {"NET.X1"}


def _text_files() -> list[Path]:
    """Every file below the scanned folders that reads as UTF-8 text (caches left out)."""
    out = []
    for root in SCANNED:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # images, fonts, compiled files
            out.append(path)
    return out


def _literals() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _text_files():
        text = path.read_text(encoding="utf-8")
        codes = set(QUOTED.findall(text))
        if path.suffix in BARE_SUFFIXES:
            codes |= set(BARE.findall(text))
        for code in codes - EXAMPLES:
            found.setdefault(code, []).append(str(path.relative_to(ROOT)))
    return found


def test_the_scan_sees_the_codes_the_code_base_uses() -> None:
    """The scan is not vacuous: codes known to be used by the terminal and the rules show up."""
    found = _literals()
    assert {"PRN.PAPER_OUT", "NET.READ_TIMEOUT", "DEV.FREEZE", "TXN.MAC_ERROR"} <= set(found)
    assert len(found) >= 40
    places = {p for where in found.values() for p in where}
    # data files and folders added after the scan was written are read too
    assert any(p.endswith(".json") for p in places), "JSON data is not scanned"
    assert any(p.startswith("bench/") for p in places), "the benchmarks are not scanned"
    for folder in ("merchant", "fleet/network_report", "fleet/prediction", "kb/manual", "sim"):
        assert any(p.startswith(f"src/posguard/{folder}/") for p in places), folder


def test_the_scan_reads_every_domain_the_catalog_has() -> None:
    """A domain the catalog gains is a domain the scan looks for: the pattern is built from
    the catalog's DOMAINS, and every domain in use is found somewhere."""
    in_use = {code.split(".", 1)[0] for code in default_catalog()}
    assert in_use <= set(DOMAINS)
    for domain in DOMAINS:
        assert QUOTED.search(f'"{domain}.SOME_CODE"'), domain


def test_every_literal_code_is_in_the_catalog() -> None:
    catalog = default_catalog()
    unknown = {code: where for code, where in _literals().items() if code not in catalog}
    assert unknown == {}, f"codes written in the code base but missing from the catalog: {unknown}"
