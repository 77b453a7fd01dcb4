"""TLS for the fleet's MQTT connections: an :class:`ssl.SSLContext` from files named in the
settings (``POSGUARD_FLEET_MQTT_TLS_*``) or on the command line.

The broker's certificate is always verified, against ``ca_file`` (a private CA) or the system's
trust store, and its host name is checked. A client certificate (``cert_file`` + ``key_file``)
is sent when the broker asks for one (Mosquitto ``require_certificate true``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from posguard.common.errors import ConfigError


def broker_tls_context(
    *,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> ssl.SSLContext:
    """A client context that verifies the broker; a missing or unreadable file is a
    :class:`ConfigError` naming it."""
    if (cert_file is None) != (key_file is None):
        raise ConfigError("MQTT TLS: a client certificate needs both --tls-cert and --tls-key")
    for label, path in (("--tls-ca", ca_file), ("--tls-cert", cert_file), ("--tls-key", key_file)):
        if path is not None and not path.is_file():
            raise ConfigError(f"MQTT TLS: {label} {path}: no such file")
    try:
        ctx = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
        )
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert_file is not None and key_file is not None:
            ctx.load_cert_chain(str(cert_file), str(key_file))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"MQTT TLS: cannot load certificates: {exc}") from exc
    return ctx
