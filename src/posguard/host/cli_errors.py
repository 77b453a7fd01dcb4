"""The host face's expected failures as one line each, in both languages, with the exit
status of their kind: :attr:`ExitCode.USAGE` (2) for what the user can fix in the command (a
busy port, a data directory that cannot be written, a database file that is not there) and
:attr:`ExitCode.UNAVAILABLE` (5) for a database the host cannot use (damaged, locked, or not a
host database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posguard.cli_support.errors import CliError, ExitCode
from posguard.common.errors import ConfigError

_TABLES = {"journal": "journal", "ledger": "transactions"}
"""The table that makes a SQLite file a host journal / ledger."""

_HEADERS = {
    "zh": {
        "id": "编号",
        "tid": "终端号",
        "batch": "批次",
        "stan": "流水号",
        "kind": "差错类型",
        "state": "状态",
        "txn": "交易",
        "host": "主机金额",
        "terminal": "终端金额",
        "card": "卡号",
    },
    "en": {
        "id": "id",
        "tid": "terminal",
        "batch": "batch",
        "stan": "stan",
        "kind": "kind",
        "state": "state",
        "txn": "txn",
        "host": "host",
        "terminal": "terminal",
        "card": "card",
    },
}


def exception_headers(lang: str) -> dict[str, str]:
    """The column headers of ``host exceptions`` in ``lang``."""
    return _HEADERS["en" if lang == "en" else "zh"]


def need_host_db(db: Path, what: str) -> None:
    """Refuse, before opening it, a path that is not there or is not a host database (a
    reader must not create tables in somebody else's SQLite file)."""
    if not db.exists():
        raise CliError(
            f"no host database at {db}. `posguard host serve` creates it in its --data-dir "
            "(default var/host/); name another with --data-dir or --db.",
            f"{db} 没有主机数据库。`posguard host serve` 会在 --data-dir（默认 var/host/）"
            "里创建它；其他位置请用 --data-dir 或 --db 指定。",
        )
    table = _TABLES[what]
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout=2000")
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise host_db_error(ConfigError(f"cannot open host {what}: {exc}"), db) from exc
    if found is None:
        raise CliError(
            f"{db} is not a host database (no {table} table): it was not made by "
            "`posguard host serve`, or by a version older than this one. Point --db at the "
            "host's file, or start `posguard host serve --db FILE` once to create it.",
            f"{db} 不是主机数据库（没有 {table} 表）：它不是 `posguard host serve` 创建的，或来自"
            "更早的版本。请用 --db 指向主机的文件，或先运行一次 `posguard host serve --db 文件`。",
            exit_code=ExitCode.UNAVAILABLE,
        )


def host_db_error(exc: ConfigError, db: Path) -> CliError:
    """The ledger or journal could not be opened: locked, damaged, or another problem."""
    text = str(exc.__cause__ or exc)
    if "locked" in text:
        return CliError(
            f"the host database {db} is locked by another process (a host still running on "
            "it?). Stop that process, or wait, and try again.",
            f"主机数据库 {db} 被另一个进程锁住（还有主机在用它？）。请停止该进程或稍后再试。",
            exit_code=ExitCode.UNAVAILABLE,
        )
    if "not a database" in text or "malformed" in text:
        return CliError(
            f"the host database {db} is damaged ({text}). Restore it from a backup; for a lab "
            "host, start afresh with another --data-dir.",
            f"主机数据库 {db} 已损坏（{text}）。请从备份恢复；"
            "实验主机可换一个 --data-dir 重新开始。",
            exit_code=ExitCode.UNAVAILABLE,
        )
    return CliError(str(exc), str(exc), exit_code=ExitCode.UNAVAILABLE)


def data_dir_error(exc: OSError, data_dir: Path) -> CliError:
    """The data directory (or a file in it) cannot be made or written."""
    where = exc.filename or data_dir
    why = exc.strerror or str(exc)
    return CliError(
        f"cannot use the data directory {where}: {why}. Choose a directory you can write "
        "with --data-dir (default var/host/).",
        f"无法使用数据目录 {where}：{why}。"
        "请用 --data-dir 指定一个有写权限的目录（默认 var/host/）。",
    )


def port_error(exc: OSError, host: str, port: int) -> CliError:
    """The listening socket could not be made: a port in use, or an address not here."""
    why = exc.strerror or str(exc)
    return CliError(
        f"cannot listen on {host}:{port}: {why}. Another host may be running there: stop it, "
        "or choose another --port.",
        f"无法在 {host}:{port} 监听：{why}。可能已有主机在运行：请停止它，或换一个 --port。",
    )
