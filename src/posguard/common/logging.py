"""Structured logging (structlog) with the one masking step applied to every record.

``configure_logging()`` installs a processor chain whose masking step runs
:func:`posguard.card.redact` over every string value (and masks keys that name
secrets outright), so a PAN, track or PIN block never reaches a log in clear even
when a caller forgets. Standard-library ``logging`` records go through the same chain.

>>> scrub({"event": "sale", "pan": "4111111111111111", "note": "card 4111 1111 1111 1111"})
{'event': 'sale', 'pan': '411111******1111', 'note': 'card 411111******1111'}
>>> scrub({"pin_block": b"\\x12\\x34", "track2": "4111111111111111=2512"})
{'pin_block': '[redacted]', 'track2': '[redacted]'}
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

from posguard.card import mask_pan, redact

# Keys whose values are secret whatever they look like: dropped to a marker.
SECRET_KEYS: Final = frozenset(
    {
        "track",
        "track1",
        "track2",
        "track3",
        "pin",
        "pin_block",
        "pinblock",
        "cvv",
        "cvv2",
        "cvc",
        "field_35",
        "field_52",
        "tmk",
        "key",
        "mac_key",
        "pin_key",
        "password",
        "token",
        "secret",
    }
)
PAN_KEYS: Final = frozenset({"pan", "card", "card_number", "field_2"})
REDACTED: Final = "[redacted]"


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return scrub(value)
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**11:
        text = str(value)
        masked = redact(text)
        return masked if masked != text else value
    return value


def scrub(event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask PANs and drop secrets in one log record (a structlog event dict)."""
    for key in list(event):
        lowered = str(key).lower()
        if lowered in SECRET_KEYS:
            event[key] = REDACTED
        elif lowered in PAN_KEYS and isinstance(event[key], str | int):
            event[key] = mask_pan(str(event[key]))
        else:
            event[key] = _scrub_value(event[key])
    return event


def _scrub_processor(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return scrub(event)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is *now* (test capture, daemon redirection)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    """Install structlog (and route stdlib logging) with timestamps, level and masking."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _scrub_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request's URL at INFO: a robot webhook's URL carries its access token
    # (DingTalk, WeCom, Feishu), so those lines would put a secret in the log
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
