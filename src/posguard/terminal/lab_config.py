"""``posguard terminal init``: a working, commented terminal config for the lab host.

It names the lab terminal of the host simulator's default seed (:mod:`posguard.common.lab`:
terminal and merchant IDs, MAC algorithm), keeps the TMK in an owner-only key file beside the
config (``tmk_source: {file: ...}``), and lists the lab host and a backup in failover order.
Paths in the file are absolute, so the commands work from any directory. Nothing is
overwritten without ``force``; the key file and the config are each written to a temporary
file and renamed into place, the key first, so a failure leaves no half-written config.

>>> import tempfile, pathlib
>>> from posguard.terminal.config import load_config
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> written = write_lab_config(d / "terminal.yaml")
>>> cfg = load_config(written.config)
>>> cfg.terminal_id, [h.address for h in cfg.hosts], cfg.tmk_bytes.hex().upper() == LAB_TERMINAL.tmk
('10000001', ['127.0.0.1:5800', '127.0.0.1:5801'], True)
>>> oct(written.key_file.stat().st_mode & 0o777)
'0o600'
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from posguard.common.errors import ConfigError
from posguard.common.lab import LAB_BACKUP_PORT, LAB_HOST, LAB_HOST_PORT, LAB_TERMINAL

__all__ = ["ConfigExistsError", "Written", "render_lab_config", "write_lab_config"]


class ConfigExistsError(ConfigError):
    """The config or its key file is already there (``force`` not given)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists; keep it, or run again with --force")
        self.path = path


@dataclass(frozen=True, slots=True)
class Written:
    config: Path
    key_file: Path
    journal: Path
    primary: str
    backup: str


def _split(address: str, what: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65_535:
        raise ConfigError(f"{what} must be HOST:PORT with a port 1-65535, not {address!r}")
    return host, int(port)


def render_lab_config(
    *, key_file: Path, journal: Path, primary: tuple[str, int], backup: tuple[str, int]
) -> str:
    """The config text (YAML with comments) for the lab terminal."""
    t = LAB_TERMINAL
    return f"""\
# posguard terminal config for the lab host (written by `posguard terminal init`).
# 实验主机的终端配置（由 posguard terminal init 生成）。
# The host simulator's default seed registers this terminal with this TMK; list the lab with
# `posguard host lab`. Every field: src/posguard/terminal/config.py.

terminal_id: "{t.terminal_id}"        # 终端号 (field 41), registered in the lab seed
merchant_id: "{t.merchant_id}" # 商户号 (field 42): Hualian Supermarket / 华联超市

# Acquirer hosts in failover order: the primary first, then the backup. The lab host is
# `posguard host serve` (127.0.0.1:{LAB_HOST_PORT} by default); nothing listens on the backup
# unless you start a second host there (`posguard host serve --port {backup[1]} --data-dir
# var/host-backup`), a host of its own with its own keys. Front-ends of one host system that
# share its key database name the same `key_domain` (e.g. `key_domain: cup`): one sign-on
# then serves both.
# 主机按故障切换顺序排列：主用在前，备用在后。
# 同一主机系统、共用密钥库的前置机填写相同的 key_domain。
hosts:
  - {{name: primary, host: {json.dumps(primary[0])}, port: {primary[1]}}}
  - {{name: backup, host: {json.dumps(backup[0])}, port: {backup[1]}}}

# The terminal master key (TMK) is read from an owner-only file (mode 600), never written
# here. It unwraps the working keys each sign-on brings. A real terminal's TMK comes from
# its key ceremony; this one is the lab seed's test key.
# 终端主密钥存放在仅属主可读的文件中（600），不写在配置里。
tmk_source: {{file: {json.dumps(str(key_file))}}}
mac_algorithm: {t.mac_algorithm}

# Message format: the lab host's defaults (`host serve --spec iso87ascii --header binary2`).
spec: iso87ascii
length_header: BINARY2

# The journal (SQLite): every transaction, card numbers sealed with its own vault key
# (created owner-only beside it on first use). 交易流水。
journal_path: {json.dumps(str(journal))}

# Seconds for each stage of an exchange with a host. 超时（秒）。
timeouts: {{dns: 3, connect: 5, read: 30}}
"""


def _write_private(path: Path, text: str, mode: int) -> Path:
    """Write ``text`` to a temporary file of ``mode`` beside ``path``; return its name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)  # also when the file was left over with another mode
    return tmp


def write_lab_config(
    path: Path,
    *,
    primary: str = f"{LAB_HOST}:{LAB_HOST_PORT}",
    backup: str = f"{LAB_HOST}:{LAB_BACKUP_PORT}",
    force: bool = False,
) -> Written:
    """Write the config at ``path`` and its TMK file (``<config dir>/tmk.key``); the journal
    goes to ``<config dir>/journal.db``. ``ConfigError`` when a file exists and not ``force``,
    or an address is bad."""
    first, second = _split(primary, "--primary"), _split(backup, "--backup")
    if first == second:
        raise ConfigError(f"--backup {backup} is the primary host; name another address")
    path = path.absolute()
    folder = path.parent
    key_file, journal = folder / "tmk.key", folder / "journal.db"
    if not force:
        for existing in (path, key_file):
            if existing.exists():
                raise ConfigExistsError(existing)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = render_lab_config(key_file=key_file, journal=journal, primary=first, backup=second)
        tmp_key = _write_private(key_file, LAB_TERMINAL.tmk + "\n", 0o600)
        tmp_cfg = _write_private(path, text, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename or folder}: {exc.strerror}") from exc
    try:
        os.replace(tmp_key, key_file)
        os.replace(tmp_cfg, path)
    except OSError as exc:
        for tmp in (tmp_key, tmp_cfg):
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    return Written(path, key_file, journal, primary, backup)
