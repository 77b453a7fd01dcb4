"""Printer status over a real TCP link to a fake ESC/POS printer answering DLE EOT 1..4."""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.common.errors import PrinterError
from posguard.terminal.printer.ports import NetworkPort
from posguard.terminal.printer.profiles import PrinterIdentity, check_profile, load_profile
from posguard.terminal.printer.status import (
    PrinterStatus,
    StatusBits,
    decode_bits,
    decode_status,
    encode_status,
)
from posguard.terminal.printer.testing import bits_for, running_printer

CODES = {
    PrinterStatus.PAPER_OUT: "PRN.PAPER_OUT",
    PrinterStatus.PAPER_LOW: "PRN.PAPER_LOW",
    PrinterStatus.COVER_OPEN: "PRN.COVER_OPEN",
    PrinterStatus.OFFLINE: "PRN.OFFLINE",
    PrinterStatus.CUTTER_JAM: "PRN.CUTTER_JAM",
    PrinterStatus.OVERHEAT: "PRN.OVERHEAT",
    PrinterStatus.HARDWARE_FAULT: "PRN.HARDWARE_FAULT",
}


@pytest.mark.parametrize("state", list(CODES))
def test_each_state_is_read_from_the_wire_and_maps_to_its_catalog_code(
    state: PrinterStatus,
) -> None:
    with running_printer(state) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.5)
        try:
            assert port.status() is state
            assert port.status().code == CODES[state]
            assert printer.queries == 8  # two rounds of DLE EOT 1, 2, 3, 4
        finally:
            port.close()


def test_known_answer_bytes_from_the_epson_tables() -> None:
    # paper end: n=1 offline (0x1E), n=2 paper-end stop (0x32), n=3 none (0x12), n=4 end+near (0x7E)
    assert decode_status(b"\x1e", b"\x32", b"\x12", b"\x7e") is PrinterStatus.PAPER_OUT
    assert decode_status(b"\x1e", b"\x16", b"\x12", b"\x12") is PrinterStatus.COVER_OPEN
    assert decode_status(b"\x1e", b"\x52", b"\x1a", b"\x12") is PrinterStatus.CUTTER_JAM
    assert decode_status(b"\x1e", b"\x52", b"\x52", b"\x12") is PrinterStatus.OVERHEAT
    # unrecoverable error (n=3 bit 5) wins over everything else, even a cutter error
    assert decode_status(b"\x1e", b"\x52", b"\x32", b"\x12") is PrinterStatus.HARDWARE_FAULT
    assert decode_status(b"\x1e", b"\x52", b"\x3a", b"\x7e") is PrinterStatus.HARDWARE_FAULT
    assert not PrinterStatus.HARDWARE_FAULT.can_print
    # a print queue persisted before the rename still loads
    assert PrinterStatus("unrecoverable") is PrinterStatus.HARDWARE_FAULT
    assert decode_status(b"\x12", b"\x12", b"\x12", b"\x12") is PrinterStatus.OK
    # not a status byte (fixed bits wrong) or missing: treated as no answer
    assert decode_status(b"\xff", b"\x12", b"\x12", b"\x12") is PrinterStatus.OFFLINE
    assert decode_status(b"", b"\x12", b"\x12", b"\x12") is PrinterStatus.OFFLINE


@settings(max_examples=200, deadline=None)
@given(st.builds(StatusBits, *(st.booleans() for _ in range(9))))
def test_encode_decode_round_trip(bits: StatusBits) -> None:
    answers = encode_status(bits)
    assert decode_bits(answers[1], answers[2], answers[3], answers[4]) == bits


def test_state_changes_are_seen_on_the_next_query() -> None:
    with running_printer(PrinterStatus.OK) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.5)
        assert port.status() is PrinterStatus.OK
        printer.set_state(PrinterStatus.COVER_OPEN)
        assert port.status() is PrinterStatus.COVER_OPEN
        printer.set_state(PrinterStatus.OK)
        assert port.status() is PrinterStatus.OK
        port.close()


def test_silent_printer_is_offline_although_it_said_ok_before() -> None:
    with running_printer(PrinterStatus.OK) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.2)
        assert port.status() is PrinterStatus.OK
        printer.silent = True  # the link stays up, the firmware answers nothing
        t0 = time.monotonic()
        assert port.status() is PrinterStatus.OFFLINE
        assert time.monotonic() - t0 < 2.0
        printer.silent = False
        assert port.status() is PrinterStatus.OK  # reconnects by itself
        port.close()


def test_stale_ok_answer_on_a_dead_link_is_not_trusted() -> None:
    """A late 'all fine' byte sitting in the socket must not pass for the printer's state."""
    with running_printer(PrinterStatus.OK) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.3)
        assert port.status() is PrinterStatus.OK
        printer.set_state(PrinterStatus.OK)
        # queue an extra unsolicited answer, then kill the printer
        port.send(b"\x10\x04\x01")
        time.sleep(0.1)
        printer.stop()
        assert port.status() is PrinterStatus.OFFLINE
        port.close()


def test_refused_connection_is_offline_and_send_raises_with_code() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port_no = s.getsockname()[1]
    port = NetworkPort("127.0.0.1", port_no, timeout=0.3)
    assert port.status() is PrinterStatus.OFFLINE
    with pytest.raises(PrinterError) as err:
        port.send(b"hello")
    assert err.value.code == "PRN.OFFLINE"


def test_dropped_link_is_reopened_for_the_next_query() -> None:
    with running_printer(PrinterStatus.PAPER_LOW) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.3)
        assert port.status() is PrinterStatus.PAPER_LOW
        printer.drop_connections()
        time.sleep(0.05)
        # first query after the drop sees the dead link, the one after reconnects
        first = port.status()
        assert first in (PrinterStatus.OFFLINE, PrinterStatus.PAPER_LOW)
        assert port.status() is PrinterStatus.PAPER_LOW
        port.close()


def test_print_data_reaches_the_printer_and_status_queries_do_not_pollute_it() -> None:
    with running_printer() as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.5)
        port.send(b"\x1b@hello\n")
        assert port.status() is PrinterStatus.OK
        port.send(b"world\n")
        deadline = time.monotonic() + 2
        while printer.printed() != b"\x1b@hello\nworld\n" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert printer.printed() == b"\x1b@hello\nworld\n"
        port.close()


def test_identity_over_gs_i_detects_a_wrong_profile() -> None:
    with running_printer(
        model_name="TM-T88V", model_id=0x20, manufacturer="EPSON", type_id=0x03
    ) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.3)
        ident = port.identify()
        assert ident == PrinterIdentity(
            model_id=0x20, model_name="TM-T88V", manufacturer="EPSON", type_id=0x03
        )
        assert check_profile(load_profile("epson-tm-t88v-cn"), ident).matches
        wrong = check_profile(load_profile("gprinter-gp58"), ident)
        assert not wrong.matches
        assert wrong.code == "PRN.WRONG_PROFILE"
        assert "TM-T88V" in wrong.detail
        # a generic 58 mm profile on an 80 mm model: width mismatch
        generic = check_profile(load_profile("generic-58-gbk"), ident)
        assert generic.code == "PRN.WRONG_PROFILE"
        assert "48 columns" in generic.detail
        port.close()


def test_printer_that_does_not_identify_is_not_called_wrong() -> None:
    with running_printer() as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.2)
        ident = port.identify()
        assert ident == PrinterIdentity()
        assert check_profile(load_profile("gprinter-gp58"), ident).matches
        assert port.status() is PrinterStatus.OK  # no late bytes confuse the next query
        port.close()


def test_bits_for_every_state_decode_back_to_it() -> None:
    for state in CODES:
        a = encode_status(bits_for(state))
        assert decode_status(a[1], a[2], a[3], a[4]) is state


@pytest.mark.parametrize(
    ("type_id", "profile", "why"),
    [
        (0x02, "generic-80-gbk", "no two-byte fonts"),  # cutter, no Chinese fonts
        (0x01, "generic-80-gbk", "no auto-cutter"),  # Chinese fonts, no cutter
    ],
)
def test_printer_type_contradicting_the_profile_is_a_wrong_profile(
    type_id: int, profile: str, why: str
) -> None:
    with running_printer(model_id=0x42, type_id=type_id) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.3)
        result = check_profile(load_profile(profile), port.identify())
        port.close()
    assert result.code == "PRN.WRONG_PROFILE"
    assert why in result.detail
    # the same printer suits a profile that asks for neither
    ok = check_profile(
        load_profile("epson-tm-t88v-us"), PrinterIdentity(model_id=0x20, type_id=0x02)
    )
    assert ok.matches
