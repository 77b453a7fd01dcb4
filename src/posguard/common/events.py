"""The telemetry event schema: the one contract between the terminal and the fleet.

An event is ``{v, terminal_id, merchant_id, seq, ts, kind, code?, data}``.
``(terminal_id, seq)`` is unique, so a resend is stored once. ``code`` is an
exception-catalog code (checked against the catalog by the fleet on ingest).
``data`` holds JSON scalars or lists/objects of them (at most :data:`MAX_DATA_DEPTH` deep);
it is refused when anything in it looks like a clear card number (a string however its groups
are separated, a number, an object key, a list of digit groups). An event is at most
:data:`MAX_EVENT_BYTES` of JSON.

>>> e = Event.model_validate({"v": 1, "terminal_id": "T0001", "merchant_id": "M01",
...     "seq": 7, "ts": "2026-11-25T10:00:00Z", "kind": "fault", "code": "NET.READ_TIMEOUT",
...     "data": {"host": "primary"}})
>>> e.kind
<EventKind.FAULT: 'fault'>
>>> parse_event(b'{"v": 1}')
Traceback (most recent call last):
...
posguard.common.errors.EventError: invalid event: terminal_id: Field required; ...

Network fields of a heartbeat (optional, each on its own; issue 20): a terminal says how it
reaches its host, so the fleet can compare areas, carriers and links
(``posguard.fleet.network_report``).

============== ======= ==============================================================
``link``       string  ``wired`` | ``wifi`` | ``4g`` | ``5g`` (:class:`Link`)
``carrier``    string  the network operator (the modem's operator name, or the
                       broadband provider of a wired/Wi-Fi shop), e.g. ``China Mobile``
``signal_dbm`` number  signal strength where the modem gives it: RSRP for 4G/5G
                       (-140..-44), RSSI for Wi-Fi (-100..0); absent when wired
``rtt_ms``     number  the round trip of the last exchange with the host, milliseconds
``failover``   bool    true while the terminal is on its backup path (backup host or
                       backup link)
============== ======= ==============================================================

Training mode (issue 20): a heartbeat says ``training: true`` while the terminal is in training
mode, and a transaction event of a practice transaction says ``training: true`` (it moved no
money); transaction events and operator-error faults (``OPS.*``) name the ``operator``.

The network fields are not refused when malformed (an old or odd modem must not lose its heartbeat):
:func:`heartbeat_network` reads them and drops a value that is out of range.

>>> heartbeat_network({"link": "4g", "carrier": "China Mobile", "signal_dbm": -101,
...     "rtt_ms": 84.5, "failover": False})
HeartbeatNetwork(link=<Link.G4: '4g'>, carrier='China Mobile', signal_dbm=-101.0, \
rtt_ms=84.5, failover=False)
>>> heartbeat_network({"uptime_s": 60}) is None
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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

from posguard.card import contains_pan, pan_text
from posguard.common.errors import EventError

SCHEMA_VERSION: Final = 1
MAX_EVENT_BYTES: Final = 64 * 1024
"""The largest event, as compact JSON (UTF-8), on every path in."""
MAX_DATA_DEPTH: Final = 32
"""How deeply ``data`` may nest objects and lists."""

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_CODE_RE = re.compile(r"^[A-Z]{2,6}\.[A-Z0-9_]{2,48}$")


class EventKind(StrEnum):
    HEARTBEAT = "heartbeat"  # periodic liveness; data: uptime_s, interval_s, firmware, wear, ...
    TRANSACTION = "transaction"  # a transaction outcome; data: type, outcome, rc, amount, stan
    FAULT = "fault"  # a fault began (or recurred); code required
    FAULT_CLEARED = "fault_cleared"  # a fault ended; code required
    PRINTER = "printer"  # printer state change; data: state
    REVERSAL = "reversal"  # reversal queued / sent / acknowledged
    COMMAND_RESULT = "command_result"  # a remote command's outcome; data: command_id, status
    LIFECYCLE = "lifecycle"  # boot, restart, update, rollback, sign-on


class Link(StrEnum):
    """How a terminal reaches its host (heartbeat field ``link``)."""

    WIRED = "wired"
    WIFI = "wifi"
    G4 = "4g"
    G5 = "5g"

    @property
    def mobile(self) -> bool:
        return self in (Link.G4, Link.G5)


# Valid ranges of the heartbeat's signal strength: RSRP (mobile) and RSSI (Wi-Fi).
_SIGNAL_RANGE: Final = {"mobile": (-140.0, -44.0), "wifi": (-100.0, 0.0)}
_RTT_MAX_MS: Final = 120_000.0
_LINKS: Final = frozenset(link.value for link in Link)


@dataclass(frozen=True, slots=True)
class HeartbeatNetwork:
    """The network fields of one heartbeat; ``None`` where absent or out of range."""

    link: Link | None
    carrier: str | None
    signal_dbm: float | None
    rtt_ms: float | None
    failover: bool | None


def _number(value: Any, lo: float, hi: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if lo <= value <= hi else None


def heartbeat_network(data: dict[str, Any]) -> HeartbeatNetwork | None:
    """The network fields of a heartbeat's ``data`` (see the module doc), or None if it has
    none. A malformed value reads as absent."""
    raw_link = data.get("link")
    link = Link(raw_link) if isinstance(raw_link, str) and raw_link in _LINKS else None
    carrier = data.get("carrier")
    carrier = (carrier.strip()[:64] or None) if isinstance(carrier, str) else None
    signal = None
    if link is not None and link is not Link.WIRED:
        signal = _number(
            data.get("signal_dbm"), *_SIGNAL_RANGE["mobile" if link.mobile else "wifi"]
        )
    rtt = _number(data.get("rtt_ms"), 0.0, _RTT_MAX_MS)
    failover = data.get("failover")
    failover = failover if isinstance(failover, bool) else None
    found = HeartbeatNetwork(link, carrier, signal, rtt, failover)
    return None if all(v is None for v in (link, carrier, signal, rtt, failover)) else found


_NEEDS_CODE: Final = frozenset({EventKind.FAULT, EventKind.FAULT_CLEARED})


class WearCounters(BaseModel):
    """A heartbeat's optional ``data.wear``: the terminal's wear and health counters.

    Each counter is cumulative since the terminal's counter store was created (it survives
    restarts; a value lower than the last one means the store was reset, e.g. a board swap);
    a counter the terminal cannot count is left out, never sent as 0. ``battery_pct`` is a
    gauge, present only on terminals with a battery. Documented in docs/events.md.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    printer_lines: Annotated[int, Field(ge=0)] | None = None  # text lines printed
    printer_cuts: Annotated[int, Field(ge=0)] | None = None  # cutter operations
    printer_paper_out: Annotated[int, Field(ge=0)] | None = None  # times paper ran out
    printer_overheat: Annotated[int, Field(ge=0)] | None = None  # head overheat reports
    printer_cutter_jam: Annotated[int, Field(ge=0)] | None = None  # cutter jam reports
    card_reads: Annotated[int, Field(ge=0)] | None = None  # cards presented to the reader
    card_read_failures: Annotated[int, Field(ge=0)] | None = None  # reads that failed
    chip_fallbacks: Annotated[int, Field(ge=0)] | None = None  # chip unreadable, swiped
    boots: Annotated[int, Field(ge=0)] | None = None  # runtime starts, for any reason
    watchdog_restarts: Annotated[int, Field(ge=0)] | None = None  # starts after crash/freeze
    battery_pct: Annotated[float, Field(ge=0, le=100)] | None = None  # charge now, if any


WEAR_COUNTERS: Final = tuple(n for n in WearCounters.model_fields if n != "battery_pct")
"""The cumulative counters of :class:`WearCounters`, in schema order."""


def wear_of(data: dict[str, Any]) -> WearCounters | None:
    """The wear counters of a heartbeat's ``data``, or None when it carries none or they do
    not fit the schema (an older or broken terminal: its liveness still counts)."""
    raw = data.get("wear")
    if not isinstance(raw, dict):
        return None
    try:
        return WearCounters.model_validate(raw)
    except ValidationError:
        return None


_GROUP_RE: Final = re.compile(r"[0-9]{1,8}")


def _split_card_number(items: list[Any]) -> bool:
    """Whether consecutive strings of a list, each a short group of digits, together spell a
    card number (``["6212", "3456", "7890", "1232"]``)."""
    run: list[str] = []
    for item in [*items, None]:
        group = pan_text(item).strip() if isinstance(item, str) and len(item) <= 24 else None
        if group is not None and _GROUP_RE.fullmatch(group):
            run.append(group)
            continue
        if len(run) >= 2 and contains_pan(" ".join(run)):
            return True
        run = []
    return False


def _number_is_pan(value: int | float) -> bool:
    """A card number written as a JSON number (``6212345678901232`` or ``6.212345678901232e15``)."""
    if isinstance(value, float):
        if not value.is_integer() or not 1e11 <= abs(value) < 1e20:
            return False
        value = int(value)
    return abs(value) >= 10**11 and contains_pan(str(abs(value)))


def _no_clear_pan(value: Any, path: str = "data") -> Any:
    """Refuse ``data`` holding a clear card number anywhere: in a string (however its groups are
    separated, full-width digits or zero-width characters included), as a JSON number, as an
    object key, or split into a list of digit groups; and data nested deeper than
    :data:`MAX_DATA_DEPTH`. Walks without recursion, so no input can exhaust the stack."""
    pending: list[tuple[Any, str, int]] = [(value, path, 0)]
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, str):
            if contains_pan(item):
                raise ValueError(f"{where} looks like a clear card number; mask it first")
        elif isinstance(item, dict | list):
            if depth >= MAX_DATA_DEPTH:
                raise ValueError(f"{where} is nested deeper than {MAX_DATA_DEPTH} levels")
            if isinstance(item, dict):
                children = []
                for k, v in item.items():
                    if contains_pan(str(k)):
                        raise ValueError(f"{where} has a key that looks like a clear card number")
                    children.append((v, f"{where}.{k}", depth + 1))
            else:
                if _split_card_number(item):
                    raise ValueError(f"{where} holds a card number split into a list of groups")
                children = [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item)]
            pending.extend(reversed(children))
        elif isinstance(item, int | float) and not isinstance(item, bool) and _number_is_pan(item):
            raise ValueError(f"{where} looks like a clear card number; mask it first")
    return value


class Event(BaseModel):
    """One telemetry event, immutable once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # strict: a JSON true or 1.0 is not a number here, as the published schema says
    v: int = Field(SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION, strict=True)
    terminal_id: Annotated[str, Field(pattern=_ID_RE)]
    merchant_id: Annotated[str, Field(pattern=_ID_RE)]
    seq: Annotated[int, Field(ge=0, lt=2**63, strict=True)]
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
        except RecursionError as exc:
            raise EventError(f"invalid event: data nested deeper than {MAX_DATA_DEPTH}") from exc
    else:
        obj = raw
    if not isinstance(obj, dict):
        raise EventError("invalid event: must be a JSON object")
    try:
        return Event.model_validate(obj)
    except ValidationError as exc:
        raise EventError(f"invalid event: {_describe(exc)}") from exc
