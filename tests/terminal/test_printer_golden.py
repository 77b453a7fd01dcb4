"""Receipt golden files: the exact ESC/POS bytes of known slips, through the dummy and file ports.

Regenerate after an intended layout change with ``POSGUARD_UPDATE_GOLDEN=1`` and review the
``.txt`` dumps in the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from posguard.terminal.printer.dump import dump_escpos
from posguard.terminal.printer.ports import DummyPort, FilePort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.receipt import ReceiptData
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.testing import sample_receipt

DATA = Path(__file__).parent / "data"
UPDATE = os.environ.get("POSGUARD_UPDATE_GOLDEN") == "1"

SALE = sample_receipt()
VOID_REPRINT = dataclasses.replace(
    SALE,
    txn_type="void",
    stan="000124",
    rrn="332910000124",
    auth_code="A1B2C4",
    original="332910000123",
    reprint=True,
)

CASES = {
    "receipt_sale_58_gbk": ("generic-58-gbk", SALE, True),
    "receipt_void_reprint_80_gbk": ("epson-tm-t88v-cn", VOID_REPRINT, False),
    "receipt_sale_80_cp437": (
        "epson-tm-t88v-us",
        dataclasses.replace(SALE, merchant_name="Jing'an Mart"),
        False,
    ),
}


def _render(profile: str, receipt: ReceiptData, pair: bool) -> bytes:
    renderer = ReceiptRenderer(load_profile(profile))
    return renderer.render_pair(receipt) if pair else renderer.render(receipt)


@pytest.mark.parametrize("name", sorted(CASES))
def test_receipt_matches_golden_file(name: str) -> None:
    profile, receipt, pair = CASES[name]
    data = _render(profile, receipt, pair)
    encoding = load_profile(profile).encoding
    if UPDATE:
        (DATA / f"{name}.bin").write_bytes(data)
        (DATA / f"{name}.txt").write_text(dump_escpos(data, encoding), encoding="utf-8")
    assert data == (DATA / f"{name}.bin").read_bytes()
    assert dump_escpos(data, encoding) == (DATA / f"{name}.txt").read_text(encoding="utf-8")


def test_dummy_port_records_exactly_the_rendered_bytes() -> None:
    port = DummyPort()
    data = _render("generic-58-gbk", SALE, True)
    port.send(data)
    assert port.output == (DATA / "receipt_sale_58_gbk.bin").read_bytes()


def test_file_port_writes_exactly_the_rendered_bytes(tmp_path: Path) -> None:
    out = tmp_path / "lp0"
    port = FilePort(out)
    port.send(_render("epson-tm-t88v-cn", VOID_REPRINT, False))
    port.close()
    assert out.read_bytes() == (DATA / "receipt_void_reprint_80_gbk.bin").read_bytes()


def test_chinese_mode_and_gbk_bytes_are_where_the_profile_says() -> None:
    data = _render("generic-58-gbk", SALE, False)
    assert data.startswith(b"\x1b@\x1bt\x00\x1c&")  # ESC @, ESC t 0, FS & (Chinese mode on)
    assert data.endswith(b"\x1bd\x04\x1c.")  # tear-bar feed (no cutter), FS . (Chinese mode off)
    assert "商户存根 MERCHANT COPY".encode("gbk") in data
    assert "上海静安便利店".encode("gbk") in data
    assert b"RMB 123.45" in data
    assert b"621234******1232 /I" in data
    us = _render("epson-tm-t88v-us", dataclasses.replace(SALE, merchant_name="Jing'an Mart"), False)
    assert b"\x1c&" not in us
    assert b"MERCHANT COPY" in us
    assert "商户".encode("gbk") not in us
    assert us.endswith(b"\x1dVB\x04")  # partial cut, no Chinese mode to leave


def test_merchant_copy_has_signature_line_cardholder_copy_has_not() -> None:
    renderer = ReceiptRenderer(load_profile("generic-58-gbk"))
    merchant = renderer.render(SALE.as_copy("merchant"))
    cardholder = renderer.render(SALE.as_copy("cardholder"))
    assert "持卡人签名 CARDHOLDER SIGNATURE".encode("gbk") in merchant
    assert b"SIGNATURE" not in cardholder
    assert "持卡人存根 CARDHOLDER COPY".encode("gbk") in cardholder


def test_void_shows_negative_amount_original_reference_and_reprint_marker() -> None:
    data = _render("epson-tm-t88v-cn", VOID_REPRINT, False)
    assert b"RMB -123.45" in data
    assert "原参考号 ORIG REF NO".encode("gbk") in data
    assert b"332910000123" in data
    assert data.count("*** 重打印 REPRINT ***".encode("gbk")) == 2  # top and bottom


@pytest.mark.parametrize("profile", ["generic-58-gbk", "epson-tm-t88v-cn"])
def test_no_printed_line_is_wider_than_the_paper(profile: str) -> None:
    from posguard.terminal.printer.renderer import display_width

    prof = load_profile(profile)
    text = dump_escpos(_render(profile, VOID_REPRINT, False), prof.encoding)
    for line in text.split("\n"):
        plain = line
        while "<" in plain and ">" in plain:  # drop command markers
            a = plain.index("<")
            b = plain.index(">", a)
            plain = plain[:a] + plain[b + 1 :]
        doubled = "GS ! 17" in line  # double-width amount line
        width = display_width(plain) * (2 if doubled else 1)
        assert width <= prof.columns, (profile, line)


def test_clear_pan_is_refused_anywhere_in_a_receipt() -> None:
    with pytest.raises(ValueError, match="masked_pan"):
        dataclasses.replace(SALE, masked_pan="6212345678901232")
    with pytest.raises(ValueError, match="merchant_name looks like a clear card number"):
        dataclasses.replace(SALE, merchant_name="card 6212 3456 7890 1232")
    with pytest.raises(ValueError, match="amount_minor"):
        dataclasses.replace(SALE, amount_minor=-1)
    with pytest.raises(ValueError, match="stan"):
        dataclasses.replace(SALE, stan="12")


def test_file_port_appends_across_reopen(tmp_path: Path) -> None:
    out = tmp_path / "spool.bin"
    for part in (b"first\n", b"second\n"):
        port = FilePort(out)  # a new process after a restart opens the spool again
        port.send(part)
        port.close()
    assert out.read_bytes() == b"first\nsecond\n"
