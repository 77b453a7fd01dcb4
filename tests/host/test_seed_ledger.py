"""Seed data files and the ledger's storage rules."""

from __future__ import annotations

import hmac
import sqlite3
from pathlib import Path

import pytest

from posguard.common.errors import ConfigError
from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed, dump_seed, load_seed
from posguard.host.timeline import load_timeline

DATA = Path(__file__).parents[2] / "src" / "posguard" / "host" / "data"


def test_shipped_seed_is_the_default_seed() -> None:
    assert load_seed(DATA / "seed.yaml") == default_seed()


def test_shipped_timeline_example_loads() -> None:
    assert len(load_timeline(DATA / "timeline-example.yaml").steps) == 5


def test_seed_roundtrip_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(dump_seed(default_seed()), encoding="utf-8")
    assert load_seed(y) == default_seed()
    j = tmp_path / "s.json"
    j.write_text(default_seed().model_dump_json(), encoding="utf-8")
    assert load_seed(j) == default_seed()


def test_bad_seed_says_what_and_where(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("cards:\n  - {pan: '12ab', account: X, expiry: '3012', pin: '1234'}\n")
    with pytest.raises(ConfigError) as info:
        load_seed(p)
    assert info.value.context["field"] == "cards.0.pan"
    p.write_text(
        "accounts: []\ncards:\n  - {pan: '4111111111111111', account: NOPE,"
        " expiry: '3012', pin: '1234'}\n"
    )
    with pytest.raises(ConfigError, match="unknown account"):
        load_seed(p)


def test_ledger_file_holds_pin_hashes_not_pins_and_no_clear_pan(tmp_path: Path) -> None:
    """PCI DSS 3.5.1: a stored PAN is unreadable, e.g. a keyed cryptographic hash of the whole
    PAN; the key is kept apart from the data (``host.db.pankey``, mode 0600)."""
    db = tmp_path / "host.db"
    led = Ledger.open(db)
    led.load_seed(default_seed())
    led.close()
    key = bytes.fromhex((tmp_path / "host.db.pankey").read_text().strip())
    assert (tmp_path / "host.db.pankey").stat().st_mode & 0o077 == 0
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT pan_ref, last4, pan_masked, pin_hash, pin_salt FROM cards"
    ).fetchall()
    assert len(rows) == len(default_seed().cards)
    by_ref = {bytes(r[0]): r for r in rows}
    for card in default_seed().cards:
        ref = hmac.digest(key, card.pan.encode(), "sha256")
        _, last4, masked, pin_hash, salt = by_ref[ref]
        assert last4 == card.pan[-4:]
        assert masked.endswith(card.pan[-4:])
        assert "*" in masked
        assert len(pin_hash) == 32
        assert len(salt) == 16
        assert b"123456" not in pin_hash
    salts = {r[4] for r in rows}
    assert len(salts) == len(rows)  # one salt per card
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("host.db*") if p.suffix != ".pankey")
    for card in default_seed().cards:
        assert card.pan.encode() not in stored


def test_a_failed_decision_leaves_no_half_written_state(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "h.db")
    led.load_seed(default_seed())
    pan = default_seed().cards[0].pan
    before = led.balance_of_card(pan)
    card = led.card(pan)
    assert card is not None

    def crash_mid_decision() -> None:
        with led.atomic():
            led.move(card.account_id, balance=-500)
            raise RuntimeError("crash between debit and transaction row")

    with pytest.raises(RuntimeError):
        crash_mid_decision()
    assert led.balance_of_card(pan) == before
