"""Load and validate the exception catalog from YAML into an immutable :class:`Catalog`.

Malformed data fails loudly with the file, the entry (position and code) and the field
at fault; entries and list items are counted from 1:

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "bad.yaml").write_text("- code: NET.X1\\n  category: nowhere\\n")
>>> try:
...     load_catalog(d)
... except CatalogError as exc:
...     print(str(exc).split(": Input")[0])
bad.yaml: entry 1 (NET.X1): field 'category'

The YAML is read with a safe loader that also refuses duplicate keys, so a data file
can neither run code nor silently drop half of an entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from posguard.catalog.model import Category, Entry
from posguard.common.errors import CatalogError

DATA_DIR = Path(str(files("posguard.catalog") / "data"))
MAX_FILE_BYTES = 1024 * 1024


class Catalog(Mapping[str, Entry]):
    """Every catalog entry, by code, with lookups by category and by field-39 response code.

    Read-only: entries are frozen models, lookups return fresh lists.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        by_code: dict[str, Entry] = {}
        by_rc: dict[str, Entry] = {}
        for e in entries:
            if e.code in by_code:
                raise CatalogError(f"entry {e.code}: field 'code': defined twice")
            by_code[e.code] = e
            for rc in e.iso_response_codes:
                if rc in by_rc:
                    raise CatalogError(
                        f"entry {e.code}: field 'iso_response_codes': "
                        f"{rc} already maps to {by_rc[rc].code}"
                    )
                by_rc[rc] = e
        self._by_code = MappingProxyType(by_code)
        self._by_rc = MappingProxyType(by_rc)

    def __getitem__(self, code: str) -> Entry:
        return self._by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def __repr__(self) -> str:
        return f"Catalog({len(self)} entries)"

    def by_category(self, category: Category | str) -> list[Entry]:
        """Entries of one category, in catalog order; an unknown category is a ``ValueError``."""
        cat = Category(category)
        return [e for e in self._by_code.values() if e.category is cat]

    def by_response_code(self, rc: str) -> Entry | None:
        """The entry a field-39 response code maps to, or None (e.g. for ``00``)."""
        return self._by_rc.get(rc.upper())

    def response_codes(self) -> Mapping[str, str]:
        """Every mapped field-39 code -> the code of the entry that owns it."""
        return MappingProxyType({rc: e.code for rc, e in self._by_rc.items()})

    def entries(self) -> list[Entry]:
        """Every entry, in catalog order (files by name, then order within the file)."""
        return list(self._by_code.values())


class _StrictSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only) that also refuses a key given twice and
    aliases (``*name``): a catalog needs neither, and aliases allow expansion bombs."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def _mapping_without_duplicates(loader: _StrictSafeLoader, node: yaml.MappingNode) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"a key must be plain text, not {type(key).__name__}",
                key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def _field_path(loc: tuple[int | str, ...]) -> str:
    """``('steps', 2, 'check')`` -> ``steps[3].check`` (list items counted from 1)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else part
    return out or "(entry)"


def _describe(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required but missing"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {type(err['input']).__name__}"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def _root_causes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop errors that only echo a deeper one (a list "too short" after its bad item failed)."""
    locs = [e["loc"] for e in errors]
    return [
        e
        for e in errors
        if not any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == e["loc"] for o in locs)
    ]


def _where(file: str, index: int, code: str) -> str:
    return f"{file}: entry {index} ({code})"


def _read_yaml(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CatalogError(f"{path.name}: {size} bytes is larger than {MAX_FILE_BYTES}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path.name}: cannot read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML: {exc}") from exc


def load_file(path: Path) -> list[tuple[int, Entry]]:
    """Validate one catalog file; returns ``(position from 1, entry)`` pairs."""
    raw = _read_yaml(path)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogError(f"{path.name}: must hold a list of entries, not {type(raw).__name__}")
    out: list[tuple[int, Entry]] = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise CatalogError(f"{_where(path.name, i, '?')}: must be a mapping of fields")
        code = item.get("code")
        code = code if isinstance(code, str) else "?"
        try:
            out.append((i, Entry.model_validate(item)))
        except ValidationError as exc:
            errors = _root_causes(exc.errors())
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise CatalogError(
                f"{_where(path.name, i, code)}: field '{_field_path(first['loc'])}': "
                f"{_describe(first)}{more}"
            ) from exc
    return out


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load every ``*.yaml`` under ``directory`` (default: the catalog shipped in the package).

    Raises :class:`CatalogError` naming file, entry and field for the first fault found;
    nothing is returned half-loaded.
    """
    directory = directory or DATA_DIR
    if not directory.is_dir():
        raise CatalogError(f"{directory}: not a directory")
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise CatalogError(f"no catalog files (*.yaml) in {directory}")
    seen: dict[str, str] = {}
    rc_seen: dict[str, str] = {}
    entries: list[Entry] = []
    for path in paths:
        for i, e in load_file(path):
            where = _where(path.name, i, e.code)
            if e.code in seen:
                raise CatalogError(f"{where}: field 'code': already defined in {seen[e.code]}")
            seen[e.code] = f"{path.name} entry {i}"
            for rc in e.iso_response_codes:
                if rc in rc_seen:
                    raise CatalogError(
                        f"{where}: field 'iso_response_codes': {rc} already maps to {rc_seen[rc]}"
                    )
                rc_seen[rc] = e.code
            entries.append(e)
    return Catalog(entries)


@cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    return load_catalog()
