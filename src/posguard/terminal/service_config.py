"""The terminal service's configuration: the terminal's YAML plus its optional ``printer``,
``agent`` and ``service`` sections (see :mod:`posguard.terminal.service`), validated in one
pass; errors name the file and the field."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from posguard.common.errors import ConfigError
from posguard.common.validation import first_error
from posguard.terminal.config import TerminalConfig, read_config_file
from posguard.terminal.doctor import PrinterSettings

SECTIONS = ("printer", "agent", "service")


class AgentSettings(BaseModel):
    """Where telemetry goes; ``none`` keeps events in the outbox only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: Literal["mqtt", "http", "none"] = "none"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    url: str | None = None
    token: Annotated[str | None, Field(repr=False)] = None
    # MQTT broker login and TLS (the broker's ACLs confine each terminal to its own topics)
    username: str | None = None
    password: Annotated[str | None, Field(repr=False)] = None
    tls: bool = False
    ca_file: Path | None = None  # trust this CA instead of the system's (a private PKI)
    # a client certificate, for a broker that requires one (Mosquitto require_certificate)
    cert_file: Path | None = None
    key_file: Path | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for the broker connection (certificate and host name checked)."""
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"agent.ca_file {self.ca_file}: cannot load: {exc}") from exc
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("agent.cert_file and agent.key_file go together")
        if self.cert_file is not None and self.key_file is not None:
            try:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"agent.cert_file {self.cert_file} / key_file {self.key_file}: cannot load: "
                    f"{exc}"
                ) from exc
        return ctx

    heartbeat_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # How the shop reaches the host, reported in heartbeats (common.events network fields)
    link: Literal["wired", "wifi", "4g", "5g"] | None = None
    carrier: Annotated[str | None, Field(max_length=64)] = None


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path(".")
    update_root: Path | None = None  # two-slot update root (slots/a, slots/b, current)
    # Ed25519 keys (``ed25519:<base64>``) a package must be signed by (none: unsigned ones go)
    update_public_keys: tuple[str, ...] = ()
    catch_up_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    catch_up_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    resume_s: Annotated[float, Field(gt=0, le=3600)] = 30.0  # then the loop's catch-up goes on
    local_api: bool = True  # <data_dir>/service.sock: the cash register's sales (local_api.py)
    print_poll_s: Annotated[float, Field(gt=0, le=600)] = 2.0


class ServiceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    terminal: TerminalConfig
    printer: PrinterSettings | None = None
    agent: AgentSettings = AgentSettings()
    service: ServiceSettings = ServiceSettings()


def load_service_config(path: Path) -> ServiceConfig:
    """Read the terminal YAML with its ``printer`` / ``agent`` / ``service`` sections."""
    return service_config_of(read_config_file(path), path)


def service_config_of(raw: dict[str, Any], path: Path) -> ServiceConfig:
    """Validate a config file's mapping (as read, sections and all); ``path`` names it in the
    one-line error."""
    raw = dict(raw)
    sections = {k: raw.pop(k) for k in SECTIONS if k in raw}
    try:
        return ServiceConfig(terminal=TerminalConfig.model_validate(raw), **sections)
    except ValidationError as exc:
        where, msg = first_error(exc)
        raise ConfigError(f"terminal config {path}: field '{where}': {msg}") from exc
