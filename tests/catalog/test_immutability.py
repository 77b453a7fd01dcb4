"""Catalog objects cannot be changed after loading: other faces share one instance."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from posguard.catalog import CHECKS, Catalog, default_catalog
from posguard.catalog.model import DOMAINS

CATALOG = default_catalog()
ENTRY = CATALOG["PRN.PAPER_OUT"]


def test_entries_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        ENTRY.code = "PRN.OTHER"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        ENTRY.title.zh = "改了"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        ENTRY.steps[0].check = "doctor.dns"  # type: ignore[misc]


def test_collections_are_tuples() -> None:
    assert isinstance(ENTRY.steps, tuple)
    assert isinstance(ENTRY.audience, tuple)
    assert isinstance(ENTRY.symptoms.zh, tuple)
    assert isinstance(ENTRY.iso_response_codes, tuple)


def test_catalog_mapping_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        CATALOG["PRN.PAPER_OUT"] = ENTRY  # type: ignore[index]
    with pytest.raises(TypeError):
        del CATALOG["PRN.PAPER_OUT"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        CATALOG.response_codes()["51"] = "X"  # type: ignore[index]


def test_returned_lists_are_copies() -> None:
    listed = CATALOG.entries()
    listed.clear()
    network = CATALOG.by_category("network")
    network.clear()
    assert len(CATALOG.entries()) == len(CATALOG) > 0
    assert CATALOG.by_category("network")


def test_registries_are_read_only() -> None:
    with pytest.raises(TypeError):
        CHECKS["os.system"] = CHECKS["doctor.dns"]  # type: ignore[index]
    with pytest.raises(TypeError):
        DOMAINS["EVIL"] = "x"  # type: ignore[index]


def test_entries_are_hashable_and_pickle() -> None:
    assert hash(ENTRY) == hash(CATALOG["PRN.PAPER_OUT"])
    assert pickle.loads(pickle.dumps(ENTRY)) == ENTRY


def test_catalog_refuses_duplicates_when_built_directly() -> None:
    from posguard.common.errors import CatalogError

    with pytest.raises(CatalogError, match="defined twice"):
        Catalog([ENTRY, ENTRY])
    clash = ENTRY.model_copy(update={"code": "PRN.CLASH", "iso_response_codes": ("51",)})
    with pytest.raises(CatalogError, match=r"51 already maps to TXN\.INSUFFICIENT_FUNDS"):
        Catalog([CATALOG["TXN.INSUFFICIENT_FUNDS"], clash])
