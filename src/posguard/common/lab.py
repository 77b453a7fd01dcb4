"""The lab: the one terminal identity the host simulator's seed and ``posguard terminal init``
share, and where the lab host listens. Test data, not secrets: a real terminal's TMK comes
from its key ceremony, never from here.

>>> LAB_TERMINAL.terminal_id, LAB_TERMINAL.merchant_id, LAB_HOST_PORT
('10000001', '898310048161234', 5800)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LAB_BACKUP_PORT", "LAB_HOST", "LAB_HOST_PORT", "LAB_TERMINAL", "LabTerminal"]


@dataclass(frozen=True, slots=True)
class LabTerminal:
    terminal_id: str
    merchant_id: str
    tmk: str  # hex, 16 bytes (lab data)
    mac_algorithm: Literal["X919", "UNIONPAY_ECB", "SM4"]


LAB_TERMINAL = LabTerminal(
    terminal_id="10000001",
    merchant_id="898310048161234",
    tmk="0123456789ABCDEFFEDCBA9876543210",
    mac_algorithm="X919",
)
"""Terminal 10000001 at Hualian Supermarket: registered in the default seed."""

LAB_HOST = "127.0.0.1"
LAB_HOST_PORT = 5800
"""``posguard host serve`` listens here by default; ``terminal init`` points the primary here."""
LAB_BACKUP_PORT = 5801
"""The lab config's backup host (nothing listens there unless a second host is started)."""
