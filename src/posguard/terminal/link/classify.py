"""Translate socket, DNS, TLS and timeout failures into NET.* catalog codes.

The stage matters: a timeout while connecting is a connect timeout (firewall drop,
no route), a timeout while waiting for the answer is a read timeout.

>>> classify(ConnectionRefusedError(111, "refused"), Stage.CONNECT)
'NET.CONNECT_REFUSED'
>>> classify(TimeoutError(), Stage.READ)
'NET.READ_TIMEOUT'
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from enum import StrEnum
from typing import Final


class Stage(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    SEND = "send"
    READ = "read"


DNS_FAILURE: Final = "NET.DNS_FAILURE"
CONNECT_REFUSED: Final = "NET.CONNECT_REFUSED"
CONNECT_TIMEOUT: Final = "NET.CONNECT_TIMEOUT"
READ_TIMEOUT: Final = "NET.READ_TIMEOUT"
CONNECTION_RESET: Final = "NET.CONNECTION_RESET"
TLS_FAILURE: Final = "NET.TLS_FAILURE"
NO_ROUTE: Final = "NET.NO_ROUTE"

_NO_ROUTE_ERRNOS: Final = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)
_RESET_ERRNOS: Final = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN}
)


def classify(exc: BaseException, stage: Stage) -> str:
    """The catalog code for ``exc`` raised during ``stage``."""
    if isinstance(exc, socket.gaierror) or stage is Stage.DNS:
        return DNS_FAILURE
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TLS_FAILURE
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        if stage is Stage.CONNECT:
            return CONNECT_TIMEOUT
        if stage is Stage.TLS:
            return TLS_FAILURE
        return READ_TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return CONNECT_REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return CONNECTION_RESET
    if isinstance(exc, asyncio.IncompleteReadError | EOFError):
        return CONNECTION_RESET
    if isinstance(exc, OSError):
        if exc.errno in _NO_ROUTE_ERRNOS:
            return NO_ROUTE
        if exc.errno == errno.ECONNREFUSED:
            return CONNECT_REFUSED
        if exc.errno == errno.ETIMEDOUT:
            return CONNECT_TIMEOUT if stage is Stage.CONNECT else READ_TIMEOUT
        if exc.errno in _RESET_ERRNOS:
            return CONNECTION_RESET
        if stage is Stage.TLS:
            return TLS_FAILURE
    return CONNECTION_RESET if stage in (Stage.SEND, Stage.READ) else CONNECT_REFUSED
