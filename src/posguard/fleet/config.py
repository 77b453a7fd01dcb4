"""Fleet service settings (pydantic-settings, ``POSGUARD_FLEET_*`` environment variables).

>>> s = FleetSettings(database_url="sqlite:///:memory:")
>>> s.token_ttl_s
900
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FleetSettings(BaseSettings):
    """Every tunable of the fleet service, declared once with its default."""

    model_config = SettingsConfigDict(env_prefix="POSGUARD_FLEET_", extra="ignore")

    database_url: str = "sqlite:///./var/fleet.db"
    # HS256 secret for user tokens and web sessions. None (and no jwt_keys): a random secret
    # per process (dev only; tokens die with the process; serve --workers >1 refuses to
    # start). Set it in production, the same on every API worker.
    jwt_secret: SecretStr | None = None
    # Rotation: several verification keys by key id (JSON in POSGUARD_FLEET_JWT_KEYS, e.g.
    # {"2026-11": "...", "2026-12": "..."}); tokens are signed with jwt_signing_key_id (or
    # jwt_secret, key id "primary") and carry that id. See docs/operations.md.
    jwt_keys: dict[str, SecretStr] = Field(default_factory=dict)
    jwt_signing_key_id: str | None = None
    token_ttl_s: int = Field(900, ge=30, le=86_400)
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(1883, ge=1, le=65_535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    # TLS to the broker (port 8883 by convention): the broker's certificate is verified
    # against mqtt_tls_ca_file (or the system trust store); a client certificate is optional.
    mqtt_tls: bool = False
    mqtt_tls_ca_file: Path | None = None
    mqtt_tls_cert_file: Path | None = None
    mqtt_tls_key_file: Path | None = None
    # Rules directory; None means the rules shipped in the package.
    rules_dir: Path | None = None
    # Run the diagnosis loop inside the API process (the embedded default).
    diagnosis_in_process: bool = True
    diagnosis_poll_s: float = Field(0.2, gt=0, le=60)
    # A supervised loop (diagnosis, MQTT consume, command dispatch) that has not completed a
    # round for this long is reported dead by /readyz (and by the shipped alert rules).
    loop_stale_after_s: float = Field(60.0, gt=0, le=3600)
    default_heartbeat_interval_s: int = Field(60, ge=1)
    # Ingest keeps one heartbeat per terminal per this many seconds (the earliest) as the
    # heartbeat history the network report and the maintenance prediction read; heartbeats are
    # not stored as events. 3600: 24 rows a terminal a day (docs/scaling.md).
    heartbeat_sample_s: int = Field(3600, ge=1, le=86_400)
    ingest_batch_max: int = Field(1000, ge=1, le=10_000)
    # Largest batch body read (bytes); a longer body is refused with 413 before it is parsed.
    ingest_body_max_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024)
    # Firmware packages for rollouts (``fleet/packages.py``): stored here by SHA-256; an
    # upload larger than package_max_bytes is refused with 413.
    package_dir: Path = Path("./var/packages")
    package_max_bytes: int = Field(64 * 1024 * 1024, ge=1024, le=2 * 1024 * 1024 * 1024)
    # Ed25519 public keys (``ed25519:<base64>``, ``posguard fleet package keygen``): when set,
    # an upload must carry a signature by one of them (terminals check it again themselves).
    package_public_keys: list[str] = Field(default_factory=list)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    # networks, e.g. ["10.0.0.5", "10.1.0.0/16"]). Default: none, so the client address (the
    # login throttle's key, the logs) is always the peer's own, whatever headers it sends.
    trusted_proxies: list[str] = Field(default_factory=list)

    def uvicorn_proxy_options(self) -> dict[str, Any]:
        """uvicorn's options for forwarded headers: off unless proxies are trusted (uvicorn's
        own default believes any loopback peer).

        >>> FleetSettings().uvicorn_proxy_options()
        {'proxy_headers': False, 'forwarded_allow_ips': ''}
        """
        return {
            "proxy_headers": bool(self.trusted_proxies),
            "forwarded_allow_ips": ",".join(self.trusted_proxies),
        }


@cache
def get_settings() -> FleetSettings:
    """The process's settings, read from the environment once."""
    return FleetSettings()
