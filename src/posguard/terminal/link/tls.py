"""Build the client TLS context for a host from its :class:`TlsConfig`."""

from __future__ import annotations

import ssl

from posguard.common.errors import ConfigError
from posguard.terminal.config import TlsConfig


def client_context(tls: TlsConfig) -> ssl.SSLContext:
    """A verifying client context (TLS 1.2+); ``ca_file`` replaces the system trust store."""
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls.cert_file:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load TLS files: {exc}", code="NET.TLS_FAILURE", ca_file=str(tls.ca_file)
        ) from exc
    return ctx
