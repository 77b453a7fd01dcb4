"""The posguard exception tree.

Expected failures (a host that does not answer, a declined card) are *results*,
not exceptions. Exceptions are for broken input, broken I/O and bugs, and every
third-party error is translated at the boundary (``raise X(...) from exc``).

::

    PosguardError
    ├── ConfigError                 wrong or unreadable configuration / data file
    │   └── CatalogError            the exception catalog failed validation
    ├── MessageError                ISO 8583 message problems
    │   ├── MessageDecodeError      bytes -> fields failed (field, position)
    │   ├── MessageEncodeError      fields -> bytes failed (field)
    │   └── FrameError              framing: truncated, oversized, garbage length
    ├── CardError                   local card checks (Luhn, expiry, format)
    ├── LinkError                   transport to a host failed (carries a catalog code)
    ├── PrinterError                printer port failed (carries a catalog code)
    └── EventError                  telemetry event failed schema validation
"""

from __future__ import annotations

from typing import Any


class PosguardError(Exception):
    """Root of every error posguard raises on purpose.

    ``code`` is the exception-catalog code this error maps to, when there is one.
    Extra context (``terminal_id``, ``stan``...) is kept in ``context`` and shown
    in ``str()``; it must never contain a clear PAN, track, PIN block or CVV.
    Errors pickle (they cross process boundaries in tests and workers).
    """

    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.context.items()))
        return f"{self.message} ({where})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.code, self.context))


def _rebuild(
    cls: type[PosguardError], message: str, code: str | None, context: dict[str, Any]
) -> PosguardError:
    return cls(message, code=code, **context)


class ConfigError(PosguardError):
    """A configuration or data file is missing, unreadable or invalid."""


class CatalogError(ConfigError):
    """The exception catalog failed validation; says file, entry and field."""


class MessageError(PosguardError):
    """An ISO 8583 message could not be handled."""


class MessageDecodeError(MessageError):
    """Bytes could not be decoded into fields; ``context`` has ``field`` and ``pos``."""


class MessageEncodeError(MessageError):
    """Fields could not be encoded into bytes; ``context`` has ``field``."""


class FrameError(MessageError):
    """A frame on the wire is truncated, oversized or has a garbage length header."""


class CardError(PosguardError):
    """A local card check failed (Luhn, expiry, format); ``code`` is a CARD.* code."""


class LinkError(PosguardError):
    """The transport to a host failed; ``code`` is a NET.* catalog code."""


class PrinterError(PosguardError):
    """The printer port failed; ``code`` is a PRN.* catalog code."""


class EventError(PosguardError):
    """A telemetry event failed schema validation; says which field and why."""
