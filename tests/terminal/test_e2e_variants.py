"""The same sale over the other wire variants: the UnionPay binary spec with TPDU and header,
the UnionPay ECB and SM4 MACs, the ASCII length header, and TLS (trusted and not)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from posguard.common.testing import write_self_signed_cert
from posguard.host.seed import SeedData
from posguard.host.server import tls_context
from posguard.host.testing import running_host
from posguard.iso8583.framing import LengthHeader
from posguard.terminal.config import HostEndpoint, TlsConfig
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]


def seed_with_mac(mac: str) -> SeedData:
    raw = lab_seed()
    for t in raw["terminals"]:
        t["mac"] = mac
    return SeedData.model_validate(raw)


@pytest.mark.parametrize(
    ("spec", "mac", "header"),
    [
        ("unionpay", "X919", "BINARY2"),
        ("unionpay", "UNIONPAY_ECB", "BINARY2"),
        ("iso87ascii", "SM4", "ASCII4"),
    ],
)
async def test_sale_void_settle_on_each_variant(
    tmp_path: Path, spec: str, mac: str, header: str
) -> None:
    async with running_host(seed_with_mac(mac), spec=spec, length_header=LengthHeader[header]) as (
        _host,
        port,
        _ledger,
    ):
        cfg = local_config(port, tmp_path / "j.db", spec=spec, mac=mac)
        cfg = cfg.model_copy(update={"length_header": header})
        async with Terminal(cfg) as t:
            sale = await t.sale(PAN, LAB_EXPIRY, 2500)
            assert sale.outcome is Outcome.APPROVED, sale
            assert (await t.void(sale.stan or "")).outcome is Outcome.APPROVED
            kept = await t.sale(PAN, LAB_EXPIRY, 700)
            assert kept.outcome is Outcome.APPROVED
            settled = await t.settle()
            assert settled.balanced
            assert (settled.totals.debit_count, settled.totals.debit_amount) == (1, 700)


async def test_tls_host_trusted_and_untrusted(tmp_path: Path) -> None:
    cert, key = write_self_signed_cert(tmp_path)
    ctx: ssl.SSLContext = tls_context(cert, key)
    async with running_host(seed_with_mac("X919"), tls=ctx) as (host, port, ledger):
        base = local_config(port, tmp_path / "j.db")

        def with_tls(tls: TlsConfig, journal: str) -> object:
            hosts = [HostEndpoint(name="primary", host="127.0.0.1", port=port, tls=tls)]
            return base.model_copy(update={"hosts": hosts, "journal_path": tmp_path / journal})

        untrusted = with_tls(TlsConfig(enabled=True, server_name="localhost"), "a.db")
        async with Terminal(untrusted) as t:  # type: ignore[arg-type]
            r = await t.sale(PAN, LAB_EXPIRY, 100)
            assert (r.outcome, r.code) == (Outcome.FAILED_NO_CHARGE, "NET.TLS_FAILURE")
        trusted = with_tls(TlsConfig(enabled=True, server_name="localhost", ca_file=cert), "b.db")
        async with Terminal(trusted) as t:  # type: ignore[arg-type]
            r = await t.sale(PAN, LAB_EXPIRY, 100)
            assert r.outcome is Outcome.APPROVED
        rows = await host.call(lambda: ledger.transactions(LAB_TID))
        assert [x.status for x in rows] == ["approved"]  # type: ignore[attr-defined]
