"""Typed terminal configuration: hosts, timeouts, TLS, identities, keys, journal path.

Every default is declared once here. Load from a YAML/JSON mapping or the environment
(``POSGUARD_TERMINAL_...``, nested with ``__``).

>>> cfg = TerminalConfig(terminal_id="T0000001", merchant_id="898310048990001",
...     tmk="00" * 16, hosts=[HostEndpoint(name="primary", host="127.0.0.1", port=5000)])
>>> cfg.timeouts.read
30.0
>>> cfg.hosts[0].address
'127.0.0.1:5000'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from posguard.common.errors import ConfigError
from posguard.common.validation import first_error
from posguard.terminal.keystore import KeySource, vault_key

DEFAULT_CONFIG = Path("var/terminal/terminal.yaml")
"""Where ``posguard terminal init`` writes the config and every terminal command looks for it."""


def missing_config(path: Path) -> ConfigError:
    """The one-line error for a config file that is not there, with the way to make one."""
    init = "posguard terminal init" + ("" if path == DEFAULT_CONFIG else f" {path}")
    return ConfigError(
        f"no terminal config at {path}: write one with `{init}` / 没有终端配置 {path}，"
        f"请先运行 {init}"
    )


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(_Frozen):
    """Seconds allowed for each stage of an exchange with a host."""

    dns: Annotated[float, Field(gt=0, le=60)] = 3.0
    connect: Annotated[float, Field(gt=0, le=120)] = 5.0
    read: Annotated[float, Field(gt=0, le=300)] = 30.0


class TlsConfig(_Frozen):
    """TLS towards one host; ``ca_file`` is the trust anchor (default: the system store)."""

    enabled: bool = False
    ca_file: Path | None = None
    server_name: str | None = None
    cert_file: Path | None = None  # client certificate (mutual TLS), optional
    key_file: Path | None = None


class HostEndpoint(_Frozen):
    """One acquirer host: the list order is the failover order (primary first)."""

    name: Annotated[str, Field(min_length=1, max_length=32)]
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)]
    tls: TlsConfig = TlsConfig()
    key_domain: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    """Hosts that name the same key domain are front-ends (前置机) of one acquirer host system
    with one key database: the working keys of a sign-on at any of them are the keys all of
    them check, so the terminal signs on once for the domain, and a sign-on at one replaces the
    keys for all. Unset: the host keeps a session of its own."""

    @property
    def keys_of(self) -> str:
        """The name the host's working keys are kept under: its key domain, else its name."""
        return self.key_domain or self.name

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class BreakerConfig(_Frozen):
    """Circuit breaker per host: how many failures open it, how long it stays open."""

    failure_threshold: Annotated[int, Field(ge=1, le=100)] = 1
    open_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_open_seconds: Annotated[float, Field(gt=0, le=86400)] = 300.0


class RetryConfig(_Frozen):
    """Exponential backoff with jitter for reversal repeats and store-and-forward."""

    base: Annotated[float, Field(ge=0, le=60)] = 1.0
    factor: Annotated[float, Field(ge=1, le=10)] = 2.0
    cap: Annotated[float, Field(ge=0, le=3600)] = 60.0
    attempts_per_run: Annotated[int, Field(ge=1, le=100)] = 3


class PracticeConfig(_Frozen):
    """Acquirer practice the terminal follows (UnionPay defaults)."""

    reversal_tries: Annotated[int, Field(ge=1, le=9)] = 3
    """冲正重发次数: tries of one reversal that may reach the host unanswered before it is
    marked failed (RECON.REVERSAL_FAILED) and stops blocking sales and settlement."""
    partial_approval: bool = False
    """Accept a partial approval (10) for the amount in field 4; when off it is reversed."""
    settle_rc95_out_of_balance: bool = False
    """Variant for non-UnionPay hosts: a 0510 with rc 95 and no field-48 flag is out of
    balance. UnionPay hosts say it in field 48 (对账应答代码 1/2/3), which always decides."""


MacName = Literal["X919", "UNIONPAY_ECB", "SM4"]


class TerminalConfig(BaseSettings):
    """Everything a terminal needs to talk to its acquirer."""

    model_config = SettingsConfigDict(
        env_prefix="POSGUARD_TERMINAL_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    terminal_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{8}$")]
    merchant_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{15}$")]
    merchant_name: Annotated[str, Field(max_length=40)] = ""
    operator: Annotated[str, Field(max_length=8)] = "01"
    hosts: Annotated[list[HostEndpoint], Field(min_length=1, max_length=8)]
    timeouts: Timeouts = Timeouts()
    breaker: BreakerConfig = BreakerConfig()
    retry: RetryConfig = RetryConfig()
    practice: PracticeConfig = PracticeConfig()
    tmk: Annotated[str | None, Field(pattern=r"^[0-9A-Fa-f]{32}$", repr=False)] = None
    """The TMK in clear: labs and tests only. A real terminal names ``tmk_source``."""
    tmk_source: KeySource | None = None
    """Where the TMK is: ``{file: PATH}`` (owner-only, hex) or ``{env: VARIABLE}``."""
    vault_key: KeySource | None = None
    """The journal's card-vault key (its own key, not the TMK); default: an owner-only
    ``<journal>.vault.key`` created on first use."""
    mac_algorithm: MacName = "X919"
    spec: Literal["iso87ascii", "unionpay"] = "iso87ascii"
    length_header: Literal["BINARY2", "ASCII4"] = "BINARY2"
    tpdu: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{10}$")] = "6000000000"
    currency: Annotated[str, Field(pattern=r"^[0-9]{3}$")] = "156"
    journal_path: Path = Path("posguard-terminal.db")

    @field_validator("hosts")
    @classmethod
    def _unique_names(cls, hosts: list[HostEndpoint]) -> list[HostEndpoint]:
        names = [h.name for h in hosts]
        if len(set(names)) != len(names):
            raise ValueError(f"host names must be unique, got {names}")
        return hosts

    @model_validator(mode="after")
    def _one_tmk(self) -> TerminalConfig:
        if (self.tmk is None) == (self.tmk_source is None):
            raise ValueError("name the TMK once: 'tmk_source' (file or env), or 'tmk' in a lab")
        return self

    @property
    def tmk_bytes(self) -> bytes:
        """The TMK (read from its source each time: nothing secret is cached here)."""
        if self.tmk is not None:
            return bytes.fromhex(self.tmk)
        assert self.tmk_source is not None
        return self.tmk_source.read("TMK", 16)

    def vault_key_bytes(self) -> bytes:
        return vault_key(self.vault_key, self.journal_path)


def read_config_file(path: Path) -> dict[str, Any]:
    """The terminal config file as a mapping, sections and all (the service's ``printer``,
    ``agent``, ``service``, which :func:`load_config` does not take); errors name the file."""
    import yaml

    if not path.exists():
        raise missing_config(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read terminal config {path}: {exc}", file=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"terminal config {path} must be a mapping", file=str(path))
    return raw


def load_config(path: Path) -> TerminalConfig:
    """Read a YAML (or JSON) file into a :class:`TerminalConfig`; errors name the file and field."""
    import yaml

    if not path.exists():
        raise missing_config(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read terminal config {path}: {exc}", code="CFG.HOST_ADDRESS"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"terminal config {path} must be a mapping")
    try:
        return TerminalConfig.model_validate(raw)
    except ValidationError as exc:
        where, msg = first_error(exc)
        raise ConfigError(
            f"terminal config {path}: field '{where}': {msg}", file=str(path)
        ) from exc
