"""Pieces for tests, labs and benchmarks of every layer: a local port nothing listens on, a
self-signed TLS certificate for a host on 127.0.0.1, the line a child process prints when it
is ready, and a bounded wait for a condition.

>>> import socket
>>> port = free_port()
>>> socket.create_connection(("127.0.0.1", port), timeout=1)
Traceback (most recent call last):
...
ConnectionRefusedError: [Errno 111] Connection refused
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["free_port", "line_containing", "until", "write_self_signed_cert"]


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago (connecting is refused)."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def write_self_signed_cert(
    directory: Path, name: str = "localhost", days: int = 1
) -> tuple[Path, Path]:
    """Write a self-signed CA certificate for host ``name`` (its common name, and its DNS name
    or, for an address such as ``127.0.0.1``, its IP address),
    valid from a day ago until ``days`` days from now, and its key (PEM, unencrypted), into
    ``directory`` as ``<name>-<days>.crt`` / ``.key``; returns (certificate, key) paths.

    The certificate is its own trust anchor: a client trusts it with ``cafile=certificate``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_alt_name(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}-{days}.crt", directory / f"{name}-{days}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def line_containing(stream: asyncio.StreamReader, marker: str, timeout: float) -> str:
    """The first line of ``stream`` (a child's stdout) that contains ``marker``, decoded.

    Raises RuntimeError when the stream ends first (the child exited), TimeoutError when no
    such line comes within ``timeout`` seconds.

    >>> async def demo() -> str:
    ...     r = asyncio.StreamReader()
    ...     r.feed_data(b"starting\\nhost listening on 127.0.0.1:4242\\n")
    ...     return await line_containing(r, "listening on", 1.0)
    >>> asyncio.run(demo())
    'host listening on 127.0.0.1:4242\\n'
    """
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise RuntimeError(f"the process ended before printing {marker!r}")
            if marker in line:
                return line


async def until(
    pred: Callable[[], object], *, timeout: float, what: str = "condition", interval: float = 0.02
) -> None:
    """Poll ``pred`` every ``interval`` seconds until it is true; AssertionError naming ``what``
    when ``timeout`` seconds pass first.

    >>> asyncio.run(until(lambda: True, timeout=1))
    >>> asyncio.run(until(lambda: False, timeout=0.05, what="the printer"))
    Traceback (most recent call last):
    ...
    AssertionError: timed out after 0.05 s waiting for the printer
    """
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
