"""Keys and card data on the terminal (PCI practice).

Sources: PCI DSS v4.0 requirement 3.4.1 (PAN displayed masked: at most the BIN, first six,
and the last four digits), 3.5.1 / 3.6.1 (keys that protect stored account data are stored
securely, in as few places as possible, and a key-encrypting key is not stored with the data
it protects), PCI PIN Security (the clear PIN never leaves the PIN entry device).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

import pytest
from refhost import reference_host

from conftest import EXPIRY, PAN, config
from posguard.common.errors import ConfigError
from posguard.terminal.journal.cardvault import CardVault
from posguard.terminal.keystore import KeySource
from posguard.terminal.printer.receipt import ReceiptData
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_TID, LAB_TMK


def _tmk_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "tmk.key"
    path.write_text(LAB_TMK + "\n", encoding="ascii")
    os.chmod(path, mode)
    return path


async def test_tmk_from_an_owner_only_key_file_signs_on(tmp_path: Path) -> None:
    """Rule: the TMK is not in clear in the terminal config beside the journal: the config
    names a key file readable by its owner only (or an environment variable).
    Source: PCI DSS 3.5.1/3.6.1 (secure key storage)."""
    base = config(1, tmp_path / "j.db")
    with pytest.raises(ValueError, match="name the TMK once"):
        type(base).model_validate({**base.model_dump(), "tmk": None})
    async with reference_host() as host:
        cfg = config(host.port, tmp_path / "j.db").model_copy(
            update={"tmk": None, "tmk_source": KeySource(file=_tmk_file(tmp_path, 0o600))}
        )
        assert "tmk" not in cfg.model_dump(exclude_none=True)
        async with Terminal(cfg) as term:
            r = await term.sale(PAN, EXPIRY, 1000)
            assert r.outcome is Outcome.APPROVED


def test_tmk_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """Rule: a key file others can read is refused with a clear error naming it.
    Source: PCI DSS 3.6.1 (access to keys restricted to the fewest custodians)."""
    src = KeySource(file=_tmk_file(tmp_path, 0o644))
    with pytest.raises(ConfigError, match=r"tmk.key is readable by group or others \(mode 644\)"):
        src.read("TMK", 16)


def test_tmk_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule: the config may name an environment variable instead of a file.
    Source: PCI DSS 3.6.1."""
    monkeypatch.setenv("POSGUARD_TEST_TMK", LAB_TMK)
    assert KeySource(env="POSGUARD_TEST_TMK").read("TMK", 16) == bytes.fromhex(LAB_TMK)
    monkeypatch.delenv("POSGUARD_TEST_TMK")
    with pytest.raises(ConfigError, match="POSGUARD_TEST_TMK is not set"):
        KeySource(env="POSGUARD_TEST_TMK").read("TMK", 16)


async def test_vault_key_is_its_own_key_not_the_tmk(tmp_path: Path) -> None:
    """Rule: the journal's card vault is sealed with its own key, not one derived from the
    TMK; its key file is owner-only. Source: PCI DSS 3.5.1 (a key is used for one purpose)."""
    async with reference_host() as host:
        cfg = config(host.port, tmp_path / "j.db")
        async with Terminal(cfg) as term:
            r = await term.sale(PAN, EXPIRY, 1000)
            rec = term.journal.find(stan=r.stan or "")
            assert rec is not None
            blob = bytes(
                term.journal._db.execute("SELECT card FROM txns WHERE id=?", (rec.id,)).fetchone()[
                    0
                ]
            )
            assert term.journal.card(rec) == (PAN, EXPIRY)
        key_file = tmp_path / "j.db.vault.key"
        assert os.stat(key_file).st_mode & 0o077 == 0
        with pytest.raises(ConfigError):
            CardVault(cfg.tmk_bytes, LAB_TID).open(blob)
        assert CardVault(cfg.vault_key_bytes(), LAB_TID).open(blob) == (PAN, EXPIRY)


def test_runtime_takes_a_pin_block_from_a_pin_pad() -> None:
    """Rule: the runtime API takes the PIN block from a PIN-pad abstraction (the clear PIN
    stays in the PIN pad). Source: PCI PIN Security requirements."""
    for name in ("sale", "preauth", "balance_inquiry"):
        params = inspect.signature(getattr(Terminal, name)).parameters
        assert "pin_pad" in params
        assert "pin" not in params  # no clear PIN enters the runtime


@pytest.mark.parametrize(
    ("masked", "ok"),
    [
        ("621483******0015", True),
        ("6214839*****0015", False),  # 7 leading digits
        ("62148******00015", False),  # 5 trailing digits
        ("621483******015", False),  # 3 trailing digits
        ("6214**********15", False),
    ],
)
def test_receipt_mask_is_exactly_first_six_last_four(masked: str, ok: bool) -> None:
    """Rule: a receipt shows at most the first six and last four digits of the PAN.
    Source: PCI DSS 3.4.1."""
    base: dict[str, Any] = {
        "merchant_name": "Shop",
        "merchant_id": "123456789012345",
        "terminal_id": "T0000001",
        "operator": "01",
        "txn_type": "sale",
        "masked_pan": "621483******0015",
        "card_brand": "unionpay",
        "entry_mode": "chip",
        "amount_minor": 100,
        "currency": "CNY",
        "batch": "000001",
        "stan": "000001",
        "rrn": "",
        "auth_code": "",
        "ts": __import__("datetime").datetime(2026, 1, 1),
    }
    receipt = ReceiptData(**base)
    if ok:
        assert dataclasses.replace(receipt, masked_pan=masked).masked_pan == masked
    else:
        with pytest.raises(ValueError, match="exactly the first 6"):
            dataclasses.replace(receipt, masked_pan=masked)
