"""The shipped catalog: every required code, spelled exactly, complete in both languages."""

from __future__ import annotations

import re

import pytest

from posguard.catalog import CHECKS, Category, Entry, Severity, default_catalog

_REQUIRED_TEXT = """
NET.DNS_FAILURE NET.CONNECT_REFUSED NET.CONNECT_TIMEOUT NET.READ_TIMEOUT NET.CONNECTION_RESET
NET.TLS_FAILURE NET.NO_ROUTE
DEV.FREEZE DEV.BLACK_SCREEN DEV.POWER_LOSS DEV.CARD_READER_FAULT SW.CRASH SW.UPDATE_FAILED
TXN.INSUFFICIENT_FUNDS TXN.EXPIRED_CARD TXN.INVALID_CARD TXN.WRONG_PIN TXN.PIN_TRIES_EXCEEDED
TXN.EXCEEDS_LIMIT TXN.RESTRICTED_CARD TXN.DO_NOT_HONOR TXN.ISSUER_UNAVAILABLE TXN.HOST_ERROR
TXN.MAC_ERROR TXN.INVALID_MERCHANT TXN.DUPLICATE
TXN.INVALID_TRANSACTION TXN.INVALID_AMOUNT TXN.ORIGINAL_NOT_FOUND TXN.FORMAT_ERROR
TXN.SUSPECTED_FRAUD TXN.PIN_FORMAT_ERROR
CARD.LUHN_INVALID CARD.EXPIRED CARD.BAD_FORMAT
PRN.PAPER_OUT PRN.PAPER_LOW PRN.COVER_OPEN PRN.OFFLINE PRN.CUTTER_JAM PRN.OVERHEAT
PRN.WRONG_PROFILE PRN.HARDWARE_FAULT
CFG.HOST_ADDRESS CFG.NOT_SIGNED_ON CFG.MERCHANT_INFO CFG.TERMINAL_UNREGISTERED
TP.API_ERROR TP.PERMISSION_DENIED
REG.MODEL_NOT_PERMITTED REG.CERTIFICATE_EXPIRED REG.FEE_RATE_CHANGED REG.FEE_CAP_EXCEEDED
RECON.TOTALS_MISMATCH RECON.REVERSAL_PENDING
"""
REQUIRED = _REQUIRED_TEXT.split()

# Domain prefix -> the data file that holds it (one file per domain).
FILE_OF = {
    "NET": "network",
    "DEV": "device",
    "SW": "software",
    "TXN": "transaction",
    "CARD": "card",
    "PRN": "printer",
    "CFG": "configuration",
    "TP": "third_party",
    "REG": "regulatory",
    "RECON": "reconciliation",
    "OPS": "operator",
}

_CJK = re.compile(r"[\u4e00-\u9fff]")

CATALOG = default_catalog()
ENTRIES = CATALOG.entries()


def test_every_required_code_is_present() -> None:
    missing = [c for c in REQUIRED if c not in CATALOG]
    assert missing == []
    assert len(REQUIRED) == 55


def test_catalog_size_is_bounded() -> None:
    assert len(REQUIRED) <= len(CATALOG) < 90


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_code_shape_and_key(code: str) -> None:
    entry = CATALOG[code]
    assert entry.code == code
    assert re.fullmatch(r"[A-Z]{2,5}\.[A-Z][A-Z0-9_]+", code)
    assert entry.domain in FILE_OF


def test_each_domain_lives_in_its_own_file() -> None:
    from posguard.catalog.loader import DATA_DIR, load_file

    for prefix, stem in FILE_OF.items():
        entries = [e for _, e in load_file(DATA_DIR / f"{stem}.yaml")]
        assert entries, stem
        assert {e.domain for e in entries} == {prefix}, stem


def _texts(entry: Entry) -> list[tuple[str, str]]:
    pairs = [(entry.title.zh, entry.title.en), (entry.auto.zh, entry.auto.en)]
    pairs += [(s.zh, s.en) for s in entry.steps]
    return pairs


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_entry_is_complete_in_both_languages(entry: Entry) -> None:
    for zh, en in _texts(entry):
        assert _CJK.search(zh), f"{entry.code}: zh text has no Chinese: {zh!r}"
        assert not _CJK.search(en), f"{entry.code}: en text has Chinese: {en!r}"
    for s in entry.symptoms.zh:
        assert _CJK.search(s), f"{entry.code}: zh symptom {s!r}"
    for s in entry.symptoms.en:
        assert not _CJK.search(s), f"{entry.code}: en symptom {s!r}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_entry_has_enough_symptoms_and_steps(entry: Entry) -> None:
    assert 4 <= len(entry.symptoms.zh) <= 8
    assert 4 <= len(entry.symptoms.en) <= 8
    assert 3 <= len(entry.steps) <= 7
    # symptoms are search material: no duplicates inside one entry
    assert len(set(entry.symptoms.zh)) == len(entry.symptoms.zh)
    assert len({s.lower() for s in entry.symptoms.en}) == len(entry.symptoms.en)


def test_titles_are_unique() -> None:
    for lang in ("zh", "en"):
        titles = [e.title.get(lang) for e in ENTRIES]
        assert len(set(titles)) == len(titles), lang


def test_every_check_a_step_names_is_registered_and_every_check_is_used() -> None:
    used = {s.check for e in ENTRIES for s in e.steps if s.check}
    assert used <= set(CHECKS)
    assert set(CHECKS) - used == set(), "registered checks no entry uses"


def test_every_category_and_domain_is_populated() -> None:
    cats = {e.category for e in ENTRIES}
    assert cats == set(Category)
    assert {e.domain for e in ENTRIES} == set(FILE_OF)
    assert Severity.CRITICAL in {e.severity for e in ENTRIES}


def test_lookups() -> None:
    assert [e.code for e in CATALOG.by_category("network")] == [
        e.code for e in ENTRIES if e.category is Category.NETWORK
    ]
    assert CATALOG.by_category(Category.NETWORK)[0].category is Category.NETWORK
    assert CATALOG.by_response_code("a0") is CATALOG["TXN.MAC_ERROR"]
    assert CATALOG.by_response_code("00") is None
    assert CATALOG.by_response_code("ZZ") is None
    with pytest.raises(ValueError, match="nowhere"):
        CATALOG.by_category("nowhere")


def test_default_catalog_is_loaded_once() -> None:
    assert default_catalog() is CATALOG


def test_no_symptom_phrase_points_to_two_entries() -> None:
    owners: dict[str, list[str]] = {}
    for e in ENTRIES:
        for s in (*e.symptoms.zh, *e.symptoms.en):
            owners.setdefault(s.lower(), []).append(e.code)
    assert {s: codes for s, codes in owners.items() if len(codes) > 1} == {}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_steps_are_distinct_sentences(entry: Entry) -> None:
    assert len({s.zh for s in entry.steps}) == len(entry.steps)
    assert len({s.en for s in entry.steps}) == len(entry.steps)
