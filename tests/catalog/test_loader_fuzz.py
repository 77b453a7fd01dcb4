"""Whatever a catalog file holds, loading it succeeds or raises CatalogError: nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.catalog import load_catalog
from posguard.catalog.model import Entry
from posguard.common.errors import CatalogError

from .conftest import entry

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["network", "major", "merchant", "doctor.dns", "05", "A0", "NET.X"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


_PATHS = _paths(entry())


def _load(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzz.yaml"
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        error = None
        try:
            cat = load_catalog(Path(d))
        except CatalogError as exc:
            error = str(exc)
        if error is None:
            assert all(isinstance(e, Entry) for e in cat.values())
        else:
            assert error.startswith("fuzz.yaml: ")


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(_PATHS), value=_values)
def test_one_mutated_field(path: tuple[Any, ...], value: Any) -> None:
    e = entry()
    node: Any = e
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _load(yaml.safe_dump([e], allow_unicode=True))


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _load(data)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="-:[]{}!&*#|>'\" \n\tabc05.", max_size=120))
def test_random_yamlish_text(text: str) -> None:
    _load(text)
