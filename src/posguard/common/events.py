"""The telemetry event schema: the one contract between the terminal and the fleet.

An event is ``{v, terminal_id, merchant_id, seq, ts, kind, code?, data}``.
``(terminal_id, seq)`` is unique, so a resend is stored once. ``code`` is an
exception-catalog code (checked against the catalog by the fleet on ingest).
``data`` holds JSON scalars or lists/objects of them; it is refused when any
string in it looks like a clear card number.

>>> e = Event.model_validate({"v": 1, "terminal_id": "T0001", "merchant_id": "M01",
...     "seq": 7, "ts": "2026-11-25T10:00:00Z", "kind": "fault", "code": "NET.READ_TIMEOUT",
...     "data": {"host": "primary"}})
>>> e.kind
<EventKind.FAULT: 'fault'>
>>> parse_event(b'{"v": 1}')
Traceback (most recent call last):
...
posguard.common.errors.EventError: invalid event: terminal_id: Field required; ...
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from posguard.card import contains_pan
from posguard.common.errors import EventError

SCHEMA_VERSION: Final = 1
MAX_EVENT_BYTES: Final = 64 * 1024

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_CODE_RE = re.compile(r"^[A-Z]{2,6}\.[A-Z0-9_]{2,48}$")


class EventKind(StrEnum):
    HEARTBEAT = "heartbeat"  # periodic liveness; data: uptime_s, interval_s, firmware, ...
    TRANSACTION = "transaction"  # a transaction outcome; data: type, outcome, rc, amount, stan
    FAULT = "fault"  # a fault began (or recurred); code required
    FAULT_CLEARED = "fault_cleared"  # a fault ended; code required
    PRINTER = "printer"  # printer state change; data: state
    REVERSAL = "reversal"  # reversal queued / sent / acknowledged
    COMMAND_RESULT = "command_result"  # a remote command's outcome; data: command_id, status
    LIFECYCLE = "lifecycle"  # boot, restart, update, rollback, sign-on


_NEEDS_CODE: Final = frozenset({EventKind.FAULT, EventKind.FAULT_CLEARED})


def _no_clear_pan(value: Any, path: str = "data") -> Any:
    if isinstance(value, str):
        if contains_pan(value):
            raise ValueError(f"{path} looks like a clear card number; mask it first")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_clear_pan(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_clear_pan(v, f"{path}[{i}]")
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= 10**11
        and contains_pan(str(value))
    ):
        raise ValueError(f"{path} looks like a clear card number; mask it first")
    return value


class Event(BaseModel):
    """One telemetry event, immutable once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = Field(SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    terminal_id: Annotated[str, Field(pattern=_ID_RE)]
    merchant_id: Annotated[str, Field(pattern=_ID_RE)]
    seq: Annotated[int, Field(ge=0, lt=2**63)]
    ts: datetime
    kind: EventKind
    code: str | None = None
    data: Annotated[dict[str, Any], AfterValidator(_no_clear_pan)] = Field(default_factory=dict)

    @field_validator("ts")
    @classmethod
    def _aware(cls, ts: datetime) -> datetime:
        if ts.tzinfo is None:
            raise ValueError("timestamp must carry a time zone (e.g. 2026-11-25T10:00:00Z)")
        return ts

    @field_validator("code")
    @classmethod
    def _code_shape(cls, code: str | None) -> str | None:
        if code is not None and not _CODE_RE.match(code):
            raise ValueError(f"{code!r} is not a catalog code of the form DOMAIN.NAME")
        return code

    @model_validator(mode="after")
    def _code_when_needed(self) -> Event:
        if self.kind in _NEEDS_CODE and self.code is None:
            raise ValueError(f"a {self.kind.value} event needs a catalog code")
        return self


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_event(raw: bytes | str | dict[str, Any]) -> Event:
    """Validate one event from JSON bytes/text or a decoded object; raise :class:`EventError`."""
    if isinstance(raw, bytes | str):
        if len(raw) > MAX_EVENT_BYTES:
            raise EventError(f"invalid event: larger than {MAX_EVENT_BYTES} bytes", size=len(raw))
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventError(f"invalid event: not JSON ({exc})") from exc
    else:
        obj = raw
    if not isinstance(obj, dict):
        raise EventError("invalid event: must be a JSON object")
    try:
        return Event.model_validate(obj)
    except ValidationError as exc:
        raise EventError(f"invalid event: {_describe(exc)}") from exc
