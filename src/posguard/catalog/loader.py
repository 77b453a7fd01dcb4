"""Load and validate the exception catalog from YAML into an immutable :class:`Catalog`.

Malformed data fails loudly with the file, the entry and the field at fault:

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "bad.yaml").write_text("- code: NET.X1\\n  category: nowhere\\n")
>>> load_catalog(d)
Traceback (most recent call last):
...
posguard.common.errors.CatalogError: bad.yaml: entry 1 (NET.X1): field 'category': ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from posguard.catalog.model import Category, Entry
from posguard.common.errors import CatalogError

DATA_DIR = Path(str(files("posguard.catalog") / "data"))


class Catalog(Mapping[str, Entry]):
    """Every catalog entry, by code, with lookups by category and by field-39 response code."""

    def __init__(self, entries: list[Entry]) -> None:
        by_code: dict[str, Entry] = {}
        by_rc: dict[str, Entry] = {}
        for e in entries:
            by_code[e.code] = e
            for rc in e.iso_response_codes:
                by_rc[rc] = e
        self._by_code = MappingProxyType(by_code)
        self._by_rc = MappingProxyType(by_rc)

    def __getitem__(self, code: str) -> Entry:
        return self._by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def by_category(self, category: Category | str) -> list[Entry]:
        cat = Category(category)
        return [e for e in self._by_code.values() if e.category is cat]

    def by_response_code(self, rc: str) -> Entry | None:
        """The entry a field-39 response code maps to, or None (e.g. for ``00``)."""
        return self._by_rc.get(rc.upper())

    def entries(self) -> list[Entry]:
        return list(self._by_code.values())


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(entry)"


def _load_file(path: Path) -> list[Entry]:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path.name}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML: {exc}") from exc
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogError(f"{path.name}: must hold a list of entries, not {type(raw).__name__}")
    out: list[Entry] = []
    for i, item in enumerate(raw, start=1):
        code = item.get("code", "?") if isinstance(item, dict) else "?"
        if not isinstance(item, dict):
            raise CatalogError(f"{path.name}: entry {i} ({code}): must be a mapping")
        try:
            out.append(Entry.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CatalogError(
                f"{path.name}: entry {i} ({code}): field '{_field_path(err['loc'])}': {err['msg']}"
                + (f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""),
                file=str(path),
            ) from exc
    return out


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load every ``*.yaml`` under ``directory`` (default: the catalog shipped in the package)."""
    directory = directory or DATA_DIR
    files_ = sorted(directory.glob("*.yaml"))
    if not files_:
        raise CatalogError(f"no catalog files (*.yaml) in {directory}")
    seen: dict[str, str] = {}
    rc_seen: dict[str, str] = {}
    entries: list[Entry] = []
    for path in files_:
        for e in _load_file(path):
            if e.code in seen:
                raise CatalogError(
                    f"{path.name}: entry {e.code}: field 'code': already defined in {seen[e.code]}"
                )
            seen[e.code] = path.name
            for rc in e.iso_response_codes:
                if rc in rc_seen:
                    raise CatalogError(
                        f"{path.name}: entry {e.code}: field 'iso_response_codes': "
                        f"{rc} already maps to {rc_seen[rc]}"
                    )
                rc_seen[rc] = e.code
            entries.append(e)
    return Catalog(entries)


@cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    return load_catalog()
