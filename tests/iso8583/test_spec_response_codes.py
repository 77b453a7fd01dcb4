"""Spec files are validated when loaded (errors name file, field and key); response codes
map to action classes, flags and catalog entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from posguard.catalog.loader import default_catalog
from posguard.common.errors import ConfigError
from posguard.iso8583.response_codes import (
    NO_ANSWER,
    UNKNOWN_CATALOG_CODE,
    ActionClass,
    known_codes,
    lookup,
)
from posguard.iso8583.spec import (
    SPEC_DIR,
    check_profile_fields,
    load_spec,
    load_spec_file,
    parse_spec,
)


def _good() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((SPEC_DIR / "unionpay.yaml").read_text("utf-8"))
    return raw


def test_shipped_specs_load() -> None:
    ascii_spec, unionpay = load_spec("iso87ascii"), load_spec("unionpay")
    assert ascii_spec.header_len == 0
    assert unionpay.header_len == 11
    assert {"52", "62", "64"} <= ascii_spec.bytes_fields
    assert {"52", "62", "64"} <= unionpay.bytes_fields
    assert "3" in unionpay.numeric_fields
    assert "35" not in unionpay.numeric_fields
    assert "numeric" not in unionpay.pyiso8583["3"]  # posguard key stripped for pyiso8583
    assert unionpay.pyiso8583["p"]["data_enc"] == "b"
    assert ascii_spec.pyiso8583["p"]["data_enc"] == "ascii"
    assert unionpay.desc("39") == "Response Code"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda r: r["fields"]["39"].update(colour="red"), "field '39', key 'colour': unknown key"),
        (lambda r: r["fields"]["39"].update(max_len="2"), "field '39', key 'max_len': must be int"),
        (lambda r: r["fields"]["39"].pop("len_type"), "field '39', key 'len_type': missing"),
        (lambda r: r["fields"]["39"].update(data_enc="klingon"), "unknown encoding 'klingon'"),
        (lambda r: r["fields"]["2"].update(len_type=3), "field '2', key 'len_type': must be 0..2"),
        (lambda r: r["fields"]["2"].pop("right_pad"), "field '2': odd nibble counts need"),
        (lambda r: r["fields"]["2"].update(left_pad="0"), "left_pad or right_pad, not both"),
        (lambda r: r["fields"]["2"].update(right_pad="G"), "key 'right_pad': must be one hex"),
        (lambda r: r["fields"]["39"].update(len_count="words"), "'bytes' or 'nibbles'"),
        (lambda r: r["fields"]["48"].update(max_len=10_000), "does not fit a length of 9999"),
        (lambda r: r["fields"]["39"].update(numeric="yes"), "key 'numeric': must be bool"),
        (lambda r: r["fields"].update({"129": r["fields"]["39"]}), "field '129': not a field"),
        (lambda r: r["fields"].pop("t"), "field 't': missing"),
        (lambda r: r["fields"]["p"].update(max_len=16), "field 'p': must be fixed length 8"),
        (lambda r: r["fields"].update({"70": r["fields"]["39"]}) or r["fields"].pop("1"), "'1'"),
        (lambda r: r["fields"].update({"40": "x"}), "field '40': must be a mapping"),
        (lambda r: r.update(extra=1), "key 'extra': unknown top-level key"),
        (lambda r: r.pop("name"), "key 'name': missing"),
    ],
)
def test_bad_spec_data_names_field_and_key(mutate: Any, where: str) -> None:
    raw = _good()
    mutate(raw)
    with pytest.raises(ConfigError, match=r"^bad\.yaml: ") as info:
        parse_spec(raw, "bad.yaml")
    assert where in str(info.value)


def test_bad_spec_files(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\nfields: [1, 2", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_spec_file(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_spec_file(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"list\.yaml: \(file\): must be a mapping"):
        load_spec_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="unknown message spec 'iso93'"):
        load_spec("iso93")


# The profile's table (docs/iso8583-profile.md): rc -> (catalog code, class).
PROFILE = {
    "01": ("TXN.DO_NOT_HONOR", "C"),
    "03": ("TXN.INVALID_MERCHANT", "C"),
    "04": ("TXN.RESTRICTED_CARD", "D"),
    "05": ("TXN.DO_NOT_HONOR", "C"),
    "06": ("TXN.HOST_ERROR", "E"),
    "12": ("TXN.INVALID_TRANSACTION", "C"),
    "13": ("TXN.INVALID_AMOUNT", "B"),
    "14": ("TXN.INVALID_CARD", "B"),
    "15": ("TXN.INVALID_CARD", "C"),
    "22": ("TXN.HOST_ERROR", "C"),
    "25": ("TXN.ORIGINAL_NOT_FOUND", "C"),
    "30": ("TXN.FORMAT_ERROR", "E"),
    "33": ("TXN.EXPIRED_CARD", "D"),
    "34": ("TXN.SUSPECTED_FRAUD", "D"),
    "38": ("TXN.PIN_TRIES_EXCEEDED", "D"),
    "40": ("TXN.INVALID_TRANSACTION", "C"),
    "41": ("TXN.RESTRICTED_CARD", "D"),
    "43": ("TXN.RESTRICTED_CARD", "D"),
    "45": ("TXN.INVALID_TRANSACTION", "C"),
    "51": ("TXN.INSUFFICIENT_FUNDS", "C"),
    "54": ("TXN.EXPIRED_CARD", "C"),
    "55": ("TXN.WRONG_PIN", "B"),
    "57": ("TXN.RESTRICTED_CARD", "C"),
    "58": ("TXN.INVALID_TRANSACTION", "D"),
    "59": ("TXN.SUSPECTED_FRAUD", "D"),
    "61": ("TXN.EXCEEDS_LIMIT", "C"),
    "62": ("TXN.RESTRICTED_CARD", "C"),
    "64": ("TXN.INVALID_AMOUNT", "C"),
    "65": ("TXN.EXCEEDS_LIMIT", "C"),
    "68": ("TXN.ISSUER_UNAVAILABLE", "B"),
    "75": ("TXN.PIN_TRIES_EXCEEDED", "D"),
    "77": ("CFG.NOT_SIGNED_ON", "D"),
    "90": ("TXN.ISSUER_UNAVAILABLE", "B"),
    "91": ("TXN.ISSUER_UNAVAILABLE", "B"),
    "92": ("TXN.ISSUER_UNAVAILABLE", "B"),
    "94": ("TXN.DUPLICATE", "C"),
    "95": ("RECON.TOTALS_MISMATCH", "D"),
    "96": ("TXN.HOST_ERROR", "E"),
    "97": ("CFG.TERMINAL_UNREGISTERED", "D"),
    "98": ("TXN.ISSUER_UNAVAILABLE", "E"),
    "99": ("TXN.PIN_FORMAT_ERROR", "E"),
    "A0": ("TXN.MAC_ERROR", "E"),
}


@pytest.mark.parametrize(("rc", "expected"), sorted(PROFILE.items()))
def test_profile_codes(rc: str, expected: tuple[str, str]) -> None:
    code, action = expected
    r = lookup(rc)
    assert r.action is ActionClass(action)
    assert not r.approved
    assert r.text["zh"]
    assert r.text["en"]
    assert r.text["zh"] != r.text["en"]
    if code not in default_catalog():
        pytest.skip(f"{code} is not in the catalog yet (catalog area)")
    assert r.catalog_code == code


def test_every_known_code_is_in_the_profile_or_approved() -> None:
    for rc in known_codes():
        r = lookup(rc)
        assert rc in PROFILE or r.approved, rc


def test_flags() -> None:
    assert {rc for rc in known_codes() if lookup(rc).needs_sign_on} == {"77", "99", "A0"}
    # UnionPay practice: a code received in field 39 is the host's decision, never a
    # reason to reverse; only the terminal's own failures (NO_ANSWER, ...) are.
    assert {rc for rc in known_codes() if lookup(rc).reversal_due} == set()
    approved = {rc for rc in known_codes() if lookup(rc).approved}
    assert approved == {"00", "10", "11", "A2", "A4", "A5", "A6"}
    assert {rc for rc in known_codes() if lookup(rc).defective} == {"A2", "A4", "A5", "A6"}
    assert lookup("A2").catalog_code == "TXN.APPROVED_WITH_DEFECT"
    assert lookup("11").catalog_code is None
    for rc in ("00", "10", "11"):  # plain approvals own no catalog entry
        assert default_catalog().by_response_code(rc) is None
    assert NO_ANSWER.reversal_due
    assert NO_ANSWER.catalog_code == "NET.READ_TIMEOUT"
    assert lookup("00").approved
    assert lookup("00").catalog_code is None
    assert lookup("55").retry_allowed
    assert not lookup("51").retry_allowed
    assert lookup("a0") is lookup("A0")


@pytest.mark.parametrize("rc", ["ZZ", "", "0", "123", None, 42, "\x00\x01", "Ａ0"])
def test_unknown_codes_never_raise(rc: object) -> None:
    r = lookup(rc)  # type: ignore[arg-type]
    assert r.action is ActionClass.E
    assert r.catalog_code == UNKNOWN_CATALOG_CODE
    assert not r.known
    assert not r.approved
    assert "Unknown response" in r.text["en"]
    assert "未知应答码" in r.text["zh"]


def test_shipped_specs_must_define_the_profile_fields() -> None:
    raw = _good()
    raw["fields"].pop("61")
    with pytest.raises(ConfigError, match="field '61': missing: the message profile uses it"):
        check_profile_fields(parse_spec(raw, "unionpay.yaml"))
    raw = _good()
    raw["fields"]["62"] = {"data_enc": "ascii", "len_enc": "bcd", "len_type": 2, "max_len": 512}
    with pytest.raises(ConfigError, match="field '62': must be binary"):
        check_profile_fields(parse_spec(raw, "unionpay.yaml"))
