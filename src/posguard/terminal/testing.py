"""Pieces for tests, labs, benchmarks and the demo: a lab seed for the host simulator (as
plain data: the terminal does not import the host), a terminal configuration pointed at
hosts on 127.0.0.1 with that seed's identity and keys, and an event recorder to pass where
a component takes a telemetry hook (``emit``).

>>> seed = lab_seed()
>>> seed["terminals"][0]["tid"] == LAB_TID
True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from posguard.card import luhn_valid
from posguard.common.events import EventKind
from posguard.terminal.config import (
    BreakerConfig,
    HostEndpoint,
    RetryConfig,
    TerminalConfig,
    Timeouts,
)

LAB_TID = "70000001"
LAB_TID2 = "70000002"  # a second till of the same shop (same TMK: lab data)
LAB_MID = "898310048990001"
LAB_TMK = "0123456789ABCDEFFEDCBA9876543210"
LAB_EXPIRY = "3012"


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable: one check digit always fits")


def lab_cards() -> list[str]:
    """Three good UnionPay cards with deep pockets, then one with 1.00 CNY on it."""
    return [_luhn_complete(f"62148390000000{n:04d}") for n in range(1, 5)]


def lab_seed() -> dict[str, Any]:
    """A host seed (``SeedData.model_validate(lab_seed())``) for long runs: accounts that
    never run dry, one merchant, one terminal."""
    big = 10**12
    pans = lab_cards()
    card = {"expiry": LAB_EXPIRY, "pin": "123456"}
    return {
        "accounts": [
            {
                "id": "ACC-LAB",
                "holder": "Lab",
                "balance": big,
                "daily_limit": big,
                "txn_limit": big,
            },
            {
                "id": "ACC-POOR",
                "holder": "Poor",
                "balance": 100,
                "daily_limit": big,
                "txn_limit": big,
            },
        ],
        "cards": [
            *({"pan": p, "account": "ACC-LAB", **card} for p in pans[:3]),
            {"pan": pans[3], "account": "ACC-POOR", **card},
        ],
        "merchants": [{"mid": LAB_MID, "name": "posguard lab shop", "mcc": "5411"}],
        "terminals": [
            {"tid": tid, "mid": LAB_MID, "tmk": LAB_TMK, "mac": "X919"}
            for tid in (LAB_TID, LAB_TID2)
        ],
    }


def local_config(
    ports: int | Sequence[int],
    journal: Path,
    *,
    tid: str = LAB_TID,
    mid: str = LAB_MID,
    tmk: str = LAB_TMK,
    mac: str = "X919",
    spec: str = "iso87ascii",
    timeouts: Timeouts | None = None,
    breaker: BreakerConfig | None = None,
    retry: RetryConfig | None = None,
    merchant_name: str = "posguard test shop",
) -> TerminalConfig:
    """A config for terminal ``tid``, hosts ``primary``, ``backup1``... in that order."""
    plist = [ports] if isinstance(ports, int) else list(ports)
    names = ["primary"] + [f"backup{i}" for i in range(1, len(plist))]
    return TerminalConfig(
        terminal_id=tid,
        merchant_id=mid,
        merchant_name=merchant_name,
        tmk=tmk,
        mac_algorithm=mac,
        spec=spec,
        hosts=[
            HostEndpoint(name=n, host="127.0.0.1", port=p)
            for n, p in zip(names, plist, strict=True)
        ],
        timeouts=timeouts or Timeouts(dns=1.0, connect=0.5, read=0.6),
        breaker=breaker or BreakerConfig(open_seconds=5.0),
        retry=retry or RetryConfig(base=0.05, factor=2.0, cap=0.5),
        journal_path=journal,
    )


class EventRecorder:
    """A telemetry hook (the shape of ``Outbox.emit``) that keeps every call in ``events``.

    >>> rec = EventRecorder()
    >>> rec(EventKind.FAULT, "PRN.PAPER_OUT", state="paper_out")
    >>> rec.events
    [(<EventKind.FAULT: 'fault'>, 'PRN.PAPER_OUT', {'state': 'paper_out'})]
    >>> rec.codes(EventKind.FAULT)
    ['PRN.PAPER_OUT']
    """

    def __init__(self) -> None:
        self.events: list[tuple[EventKind, str | None, dict[str, Any]]] = []

    def __call__(self, kind: EventKind, code: str | None = None, **data: Any) -> object:
        self.events.append((kind, code, data))
        return None

    def codes(self, kind: EventKind) -> list[str | None]:
        """The codes of the recorded events of ``kind``, in order."""
        return [c for k, c, _ in self.events if k is kind]
