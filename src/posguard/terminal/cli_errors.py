"""The terminal face's expected failures as one line each: what is wrong, what to do, in both
languages, with an exit status that says which kind it was (:class:`ExitCode`).

- :attr:`ExitCode.USAGE` (2): something the user wrote is wrong: a config file that is
  missing or not valid YAML (``file:line:column``), a bad key file;
- :attr:`ExitCode.UNAVAILABLE` (5): something the command needs is not usable now: no host
  answers, the journal is locked by another process or is not a journal database, another
  runtime holds the data directory.

>>> import yaml
>>> try:
...     yaml.safe_load("a: [1,\\n  - b")
... except yaml.YAMLError as exc:
...     err = config_error(_wrap(exc), Path("t.yaml"))
>>> err.en.startswith("t.yaml:2:3: not valid YAML"), err.exit_code.name
(True, 'USAGE')
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml

from posguard.catalog.loader import default_catalog
from posguard.cli_support.errors import CliError, ExitCode
from posguard.common.errors import ConfigError, PosguardError
from posguard.terminal.config import DEFAULT_CONFIG
from posguard.terminal.journal.store import JournalError


def _init(config: Path) -> str:
    return "posguard terminal init" + ("" if config == DEFAULT_CONFIG else f" {config}")


def missing_config(config: Path) -> CliError:
    """No config file: say where it was looked for and how to write one."""
    init = _init(config)
    return CliError(
        f"no terminal config at {config}. Write one for the lab host with `{init}`.",
        f"没有终端配置 {config}。请先运行 `{init}` 写一份实验主机的配置。",
    )


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _wrap(exc: Exception) -> ConfigError:
    """(doctest helper) a ConfigError caused by ``exc``, as the config loader raises it."""
    try:
        raise ConfigError("cannot read terminal config") from exc
    except ConfigError as wrapped:
        return wrapped


def config_error(exc: PosguardError, config: Path) -> CliError:
    """A config, key file, journal or runtime-lock failure as one line (see module doc)."""
    bad_yaml = _cause(exc, yaml.MarkedYAMLError)
    if isinstance(bad_yaml, yaml.MarkedYAMLError) and bad_yaml.problem_mark is not None:
        mark = bad_yaml.problem_mark
        where = f"{config}:{mark.line + 1}:{mark.column + 1}"
        problem = bad_yaml.problem or "syntax error"
        return CliError(
            f"{where}: not valid YAML ({problem}). Fix that line, or write a fresh config with "
            f"`{_init(config)} --force`.",
            f"{where}：YAML 格式错误（{problem}）。请改正该行，或用 `{_init(config)} --force` "
            "重新生成配置。",
        )
    if isinstance(exc, JournalError) or "journal" in exc.message:
        return _journal_error(exc)
    text = exc.message
    if "key file" in text or "TMK" in text or "environment variable" in text:
        return CliError(
            f"{text}. The lab's key file is written by `{_init(config)} --force`; a real "
            "terminal's comes from its key ceremony.",
            f"{text}。实验用的主密钥文件由 `{_init(config)} --force` 生成；正式终端的主密钥来自"
            "密钥灌装。",
        )
    if "another terminal runtime" in text:
        return CliError(
            f"{text}. Use `--via-service` to go through it, or stop it first.",
            f"{text}。请加 `--via-service` 通过运行中的服务交易，或先停止它。",
            exit_code=ExitCode.UNAVAILABLE,
        )
    return CliError(str(exc), str(exc))


def _journal_error(exc: PosguardError) -> CliError:
    path = exc.context.get("path", "")
    locked = _cause(exc, sqlite3.OperationalError)
    if locked is not None and "locked" in str(locked):
        return CliError(
            f"the journal {path} is locked by another process (a terminal service or another "
            "command still running?). Wait for it to finish, or stop it, and try again.",
            f"交易流水 {path} 被另一个进程锁住（终端服务或另一条命令仍在运行？）。请等它结束"
            "或停止它后再试。",
            exit_code=ExitCode.UNAVAILABLE,
        )
    if _cause(exc, sqlite3.DatabaseError) is not None:
        return CliError(
            f"the journal {path} is not a readable journal database (damaged?). Do not delete "
            "it: it may hold transactions still to settle; restore it from a backup or hand "
            "it to support.",
            f"交易流水 {path} 无法读取（可能已损坏）。不要删除它，里面可能有未结算的交易；请从备份"
            "恢复或交给技术支持。",
            exit_code=ExitCode.UNAVAILABLE,
        )
    return CliError(str(exc), str(exc), exit_code=ExitCode.UNAVAILABLE)


def host_unreachable(code: str, hosts: str, config: Path) -> CliError:
    """No host took the request (nothing was sent, nothing charged): the catalog code, its
    title, and the next step."""
    entry = default_catalog().get(code)
    title_en = entry.title.en if entry else code
    title_zh = entry.title.zh if entry else code
    c = "" if config == DEFAULT_CONFIG else f" -c {config}"
    return CliError(
        f"{code}: {title_en}: no host answered ({hosts}); nothing was sent or charged. Start "
        f"the lab host with `posguard host serve`, or check `hosts` in {config} "
        f"(`posguard terminal doctor{c}` tests each one).",
        f"{code}：{title_zh}：没有主机应答（{hosts}），交易未发出、未扣款。请用 "
        f"`posguard host serve` 启动实验主机，或检查 {config} 里的 hosts"
        f"（`posguard terminal doctor{c}` 逐个检测）。",
        exit_code=ExitCode.UNAVAILABLE,
    )
