"""One finding: a catalog code, who it concerns, what is wrong, what to do, what it costs."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from posguard.catalog.model import Severity
from posguard.merchant.text import Text

FEE_RATE_CHANGED = "REG.FEE_RATE_CHANGED"
MODEL_NOT_PERMITTED = "REG.MODEL_NOT_PERMITTED"
CERTIFICATE_EXPIRED = "REG.CERTIFICATE_EXPIRED"


class Finding(BaseModel):
    """``kind`` refines the code (``rate_changed``, ``mcc_changed``, ``cap_exceeded`` ...);
    ``at_stake_fen`` is signed: positive means the merchant paid that much too much."""

    model_config = ConfigDict(frozen=True)

    code: str
    kind: str
    severity: Severity
    subject: str
    title: Text
    detail: Text
    action: Text
    at_stake_fen: int | None = None
    since: date | None = None
    until: date | None = None
    count: int = 1
