"""``posguard terminal config show|restore``: the parameters a fleet push sees, and the way back
from a push on the terminal itself.

``show`` prints the pushable parameters as the file sets them (``config_push.reported``: what
the heartbeat sends, no secrets). ``restore`` puts back the file kept before the last push
(``<name>.prev``), checked with the service's schema first and written the same atomic way; the
file it replaces becomes the new ``.prev``, so a second restore undoes the first. Restart the
service afterwards (``reboot`` from the fleet, or the supervisor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError
from posguard.terminal.config import DEFAULT_CONFIG

config_app = FaceApp(help="Pushed parameters / 参数下发.", no_args_is_help=True)

_CONFIG = typer.Option("--config", help="Terminal config file / 终端配置文件")


def _refused(exc: ConfigError) -> CliError:
    return CliError(exc.message, exc.message)


@config_app.command("show")
def show(config: Annotated[Path, _CONFIG] = DEFAULT_CONFIG, lang: LangOption = None) -> None:
    """The pushable parameters as the file sets them (JSON, no secrets) / 可下发参数的当前值。"""
    from posguard.terminal import config_push
    from posguard.terminal.service_config import load_service_config

    try:
        cfg = load_service_config(config)
    except ConfigError as exc:
        raise _refused(exc) from None
    typer.echo(json.dumps(config_push.reported(cfg), ensure_ascii=False, indent=2))


@config_app.command("restore")
def restore(config: Annotated[Path, _CONFIG] = DEFAULT_CONFIG, lang: LangOption = None) -> None:
    """Put back the file kept before the last push, then restart the service / 恢复推送前的配置。"""
    from posguard.terminal import config_push
    from posguard.terminal.config import read_config_file
    from posguard.terminal.service_config import service_config_of

    prev = config_push.previous_path(config)
    if not prev.exists():
        raise CliError(
            f"no file kept from a push beside {config} (looked for {prev.name})",
            f"{config} 旁没有推送前保留的配置（{prev.name}）",
            exit_code=ExitCode.NOT_FOUND,
        )
    try:
        raw = read_config_file(prev)
        service_config_of(raw, prev)
        config_push.write_atomically(config, raw)
    except ConfigError as exc:
        raise _refused(exc) from None
    typer.echo(
        f"restored {config} from {prev.name}; restart the service to run it"
        if lang == "en"
        else f"已从 {prev.name} 恢复 {config}；请重启终端服务使其生效"
    )
