"""A malformed catalog fails with a CatalogError naming the file, the entry and the field."""

from __future__ import annotations

from typing import Any

import pytest

from posguard.catalog import load_catalog
from posguard.common.errors import CatalogError

from .conftest import VALID_ENTRY, WriteCatalog, entry


def _load_error(write_catalog: WriteCatalog, **files: Any) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(write_catalog(**files))
    return str(info.value)


def test_a_valid_directory_loads(write_catalog: WriteCatalog) -> None:
    cat = load_catalog(write_catalog(printer=[entry()]))
    assert list(cat) == ["PRN.PAPER_OUT"]
    assert cat["PRN.PAPER_OUT"].steps[1].check == "printer.status"


def _with(path: str, value: Any) -> dict[str, Any]:
    """The valid entry with one nested key (``title.en``, ``steps.1.check``) set or dropped."""
    e = entry()
    *parents, last = path.split(".")
    node: Any = e
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return e


CASES = [
    # (what, the entry, field named, words in the message)
    ("unknown key", _with("colour", "red"), "colour", "unknown key"),
    ("unknown nested key", _with("title.fr", "Imprimante"), "title.fr", "unknown key"),
    ("missing field", _with("severity", ...), "severity", "required but missing"),
    ("missing language", _with("title.en", ...), "title.en", "required but missing"),
    ("missing symptom language", _with("symptoms.zh", ...), "symptoms.zh", "missing"),
    ("missing step language", _with("steps.0.en", ...), "steps[1].en", "missing"),
    ("empty text", _with("title.zh", ""), "title.zh", "at least 1 character"),
    ("blank text", _with("auto.en", "   "), "auto.en", "blank"),
    ("padded text", _with("title.en", " Printer"), "title.en", "spaces"),
    ("empty symptoms", _with("symptoms.en", []), "symptoms.en", "at least 1"),
    ("no steps", _with("steps", []), "steps", "at least 1"),
    ("number as text", _with("title.zh", 42), "title.zh", "valid string"),
    ("bool as text", _with("steps.1.zh", True), "steps[2].zh", "valid string"),
    ("bad category", _with("category", "nowhere"), "category", "hardware"),
    ("bad severity", _with("severity", 3), "severity", "info"),
    ("audience not a list", _with("audience", "merchant"), "audience", "must be a list, not str"),
    ("unknown audience", _with("audience", ["boss"]), "audience[1]", "merchant"),
    ("repeated audience", _with("audience", ["ops", "ops"]), "audience", "repeats"),
    ("unknown check", _with("steps.1.check", "os.system"), "steps[2].check", "unknown check"),
    ("unquoted response code", _with("iso_response_codes", [5]), "iso_response_codes", "quote"),
    ("bad response code", _with("iso_response_codes", ["5"]), "iso_response_codes", "two-char"),
    ("approved code", _with("iso_response_codes", ["00"]), "iso_response_codes", "approved"),
    ("lower-case code", _with("code", "prn.paper_out"), "code", "pattern"),
    ("unknown domain", _with("code", "XYZ.PAPER_OUT"), "code", "unknown domain"),
]


@pytest.mark.parametrize(("what", "bad", "field", "words"), CASES, ids=[c[0] for c in CASES])
def test_malformed_entry_names_file_entry_and_field(
    write_catalog: WriteCatalog, what: str, bad: dict[str, Any], field: str, words: str
) -> None:
    other = entry(code="PRN.PAPER_LOW", title={"zh": "纸快用完", "en": "Paper low"})
    message = _load_error(write_catalog, printer=[other, bad])
    code = bad.get("code", "?")
    assert message.startswith(f"printer.yaml: entry 2 ({code}): field '{field}': "), message
    assert words in message, message


def test_duplicate_code_across_files(write_catalog: WriteCatalog) -> None:
    message = _load_error(write_catalog, a_printer=[entry()], b_printer=[entry()])
    assert message == (
        "b_printer.yaml: entry 1 (PRN.PAPER_OUT): field 'code': "
        "already defined in a_printer.yaml entry 1"
    )


def test_duplicate_response_code_owner(write_catalog: WriteCatalog) -> None:
    first = entry(code="TXN.DO_NOT_HONOR", iso_response_codes=["05"])
    second = entry(code="TXN.HOST_ERROR", iso_response_codes=["96", "05"])
    message = _load_error(write_catalog, transaction=[first, second])
    assert message == (
        "transaction.yaml: entry 2 (TXN.HOST_ERROR): field 'iso_response_codes': "
        "05 already maps to TXN.DO_NOT_HONOR"
    )


def test_duplicate_key_in_yaml_is_refused(write_catalog: WriteCatalog) -> None:
    text = "- code: PRN.PAPER_OUT\n  severity: minor\n  severity: major\n"
    message = _load_error(write_catalog, printer=text)
    assert message.startswith("printer.yaml: not valid YAML")
    assert "duplicate key 'severity'" in message


@pytest.mark.parametrize("text", ["- {[a]: 1}\n", "- {{a: 1}: x}\n", "- {? [1, 2]: y}\n"])
def test_a_key_that_is_not_plain_text_is_refused(write_catalog: WriteCatalog, text: str) -> None:
    message = _load_error(write_catalog, printer=text)
    assert message.startswith("printer.yaml: not valid YAML")
    assert "a key must be plain text" in message


def test_yaml_cannot_construct_python_objects(write_catalog: WriteCatalog, tmp_path: Any) -> None:
    marker = tmp_path / "pwned"
    text = f"- !!python/object/apply:os.system ['touch {marker}']\n"
    message = _load_error(write_catalog, printer=text)
    assert "not valid YAML" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- &a {code: NET.X1}\n- *a\n", "aliases (*name) are not allowed here"),
        ("code: PRN.PAPER_OUT\n", "printer.yaml: must hold a list of entries, not dict"),
        ("- just a string\n", "printer.yaml: entry 1 (?): must be a mapping of fields"),
        ("- code: [unclosed\n", "printer.yaml: not valid YAML"),
    ],
)
def test_file_level_faults(write_catalog: WriteCatalog, text: str, words: str) -> None:
    assert words in _load_error(write_catalog, printer=text)


def test_bad_utf8_names_the_file(write_catalog: WriteCatalog) -> None:
    d = write_catalog(printer=[entry()])
    (d / "printer.yaml").write_bytes(b"- code: \xff\xfe\n")
    with pytest.raises(CatalogError, match=r"^printer\.yaml: cannot read"):
        load_catalog(d)


def test_empty_or_missing_directory(tmp_path: Any) -> None:
    with pytest.raises(CatalogError, match="no catalog files"):
        load_catalog(tmp_path)
    with pytest.raises(CatalogError, match="not a directory"):
        load_catalog(tmp_path / "nope")


def test_more_errors_are_counted(write_catalog: WriteCatalog) -> None:
    bad = entry(severity="huge", category="nowhere")
    message = _load_error(write_catalog, printer=[bad])
    assert message.endswith("(and 1 more)")


def test_the_valid_entry_is_untouched_by_the_cases() -> None:
    assert VALID_ENTRY["title"] == {"zh": "打印机缺纸", "en": "Printer out of paper"}
