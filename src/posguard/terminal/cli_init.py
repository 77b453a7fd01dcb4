"""`posguard terminal init`: write a working terminal config for the lab host, and say the
next commands (registered on the terminal CLI's ``app`` by :func:`register`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption, resolve_lang
from posguard.common.lab import LAB_BACKUP_PORT, LAB_HOST, LAB_HOST_PORT, LAB_TERMINAL
from posguard.terminal.config import DEFAULT_CONFIG


def init(
    path: Annotated[
        Path, typer.Argument(help="Where to write the config / 配置文件路径")
    ] = DEFAULT_CONFIG,
    primary: Annotated[
        str, typer.Option(help="The lab host, HOST:PORT / 主用主机")
    ] = f"{LAB_HOST}:{LAB_HOST_PORT}",
    backup: Annotated[
        str, typer.Option(help="The backup host, HOST:PORT / 备用主机")
    ] = f"{LAB_HOST}:{LAB_BACKUP_PORT}",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing config and key file / 覆盖")
    ] = False,
    lang: LangOption = None,
) -> None:
    """Write a working terminal config for the lab host / 生成实验主机的终端配置.

    The lab terminal's IDs, its TMK in an owner-only key file beside the config, the lab host
    and a backup; prints the next commands."""
    from posguard.terminal.lab_config import ConfigExistsError, write_lab_config

    lang = resolve_lang(lang)  # already resolved by FaceApp; str for mypy
    try:
        w = write_lab_config(path, primary=primary, backup=backup, force=force)
    except ConfigExistsError as exc:
        raise CliError(str(exc), f"{exc.path} 已存在：保留它，或加 --force 覆盖") from None
    c = "" if path == DEFAULT_CONFIG else f" -c {path}"
    port = primary.rpartition(":")[2]
    host = "" if port == str(LAB_HOST_PORT) else f" --port {port}"
    t = LAB_TERMINAL
    if lang == "zh":
        typer.echo(
            f"已写入 {w.config}（终端 {t.terminal_id}，商户 {t.merchant_id}，主机 {w.primary}，"
            f"备用 {w.backup}）；主密钥在 {w.key_file}（仅属主可读）。"
        )
        typer.echo("下一步：")
        steps = [
            (f"posguard host serve{host} &", "启动实验主机（若尚未运行）"),
            (f"posguard terminal sign-on{c}", "签到，取工作密钥"),
            ("posguard host lab", "测试卡；完整卡号见 posguard host seed"),
            (f"posguard terminal sale{c} --pan 卡号 --expiry YYMM --amount 12.34", "消费"),
            (f"posguard terminal journal{c}", "查看流水"),
        ]
    else:
        typer.echo(
            f"wrote {w.config} (terminal {t.terminal_id}, merchant {t.merchant_id}, host "
            f"{w.primary}, backup {w.backup}); its TMK is in {w.key_file} (owner only)."
        )
        typer.echo("next:")
        steps = [
            (f"posguard host serve{host} &", "the lab host, if it is not running"),
            (f"posguard terminal sign-on{c}", "sign on, fetch working keys"),
            ("posguard host lab", "test cards; full numbers: posguard host seed"),
            (f"posguard terminal sale{c} --pan PAN --expiry YYMM --amount 12.34", "a sale"),
            (f"posguard terminal journal{c}", "the journal"),
        ]
    for command, why in steps:
        typer.echo(f"  {command}    # {why}")


def register(app: typer.Typer) -> None:
    """Add ``init`` to the ``posguard terminal`` app."""
    app.command()(init)
