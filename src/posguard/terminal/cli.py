"""`posguard terminal ...`: run the terminal's operations from a shell (labs, support, demos).

Every command reads a terminal config file (YAML, see ``posguard.terminal.config``). Results
are printed with the catalog's words for the cardholder and the merchant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from posguard.cli_support.errors import say_error
from posguard.cli_support.lang import default_lang
from posguard.common.lab import LAB_BACKUP_PORT, LAB_HOST, LAB_HOST_PORT, LAB_TERMINAL
from posguard.terminal.config import DEFAULT_CONFIG
from posguard.terminal.engine.settlement import SettlementResult
from posguard.terminal.result import Outcome, TransactionResult
from posguard.terminal.runtime import Terminal

app = typer.Typer(help="The terminal runtime / 终端运行时.", no_args_is_help=True)

T = TypeVar("T")
ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Terminal config (YAML; `terminal init` writes it) / 终端配置文件"
    ),
]
PanOpt = Annotated[
    str, typer.Option("--pan", envvar="POSGUARD_PAN", help="Card number (lab use) / 卡号")
]
ExpiryOpt = Annotated[str, typer.Option("--expiry", help="Card expiry YYMM / 有效期")]
AmountOpt = Annotated[str, typer.Option("--amount", help="Amount in yuan, e.g. 12.34 / 金额(元)")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh or en")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def to_fen(amount: str) -> int:
    """``"12.34"`` -> 1234; refuses negatives and more than two decimals.

    >>> to_fen("12.3"), to_fen("0.01")
    (1230, 1)
    """
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise typer.BadParameter(f"{amount!r} is not an amount like 12.34") from None
    if value <= 0 or value != value.quantize(Decimal("0.01")):
        raise typer.BadParameter(f"{amount!r}: amount must be positive with at most 2 decimals")
    return int(value * 100)


def _with_terminal(config: Path, op: Callable[[Terminal], Awaitable[T]]) -> T:
    """Run ``op`` on the terminal of ``config``: the terminal's YAML, or the service's (its
    ``printer`` / ``agent`` / ``service`` sections are accepted). With a ``service`` section
    the runtime lock of its data directory is taken: a sale from here never runs beside the
    service on the same journal."""
    from posguard.common.errors import PosguardError
    from posguard.terminal.config import read_config_file
    from posguard.terminal.runtime_lock import RuntimeLock
    from posguard.terminal.service import load_service_config

    async def main() -> T:
        async with Terminal(cfg.terminal) as t:
            return await op(t)

    _need_config(config)
    try:
        cfg = load_service_config(config)
        lock = (
            RuntimeLock(cfg.service.data_dir, wait=0)
            if "service" in read_config_file(config)
            else None
        )
        if lock is not None:
            lock.acquire()
    except PosguardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        return asyncio.run(main())
    finally:
        if lock is not None:
            lock.release()


def _need_config(config: Path) -> None:
    """A missing config file is one line naming it and how to write one (exit 2)."""
    if config.exists():
        return
    init = "posguard terminal init" + ("" if config == DEFAULT_CONFIG else f" {config}")
    lang = default_lang()
    say_error(
        f"没有终端配置 {config}。请先运行 `{init}` 写一份实验主机的配置。"
        if lang == "zh"
        else f"no terminal config at {config}. Write one for the lab host with `{init}`.",
        lang,
    )
    raise typer.Exit(2)


def _show(result: TransactionResult, lang: str, as_json: bool) -> None:
    words = result.words
    if as_json:
        data = {
            k: getattr(result, k)
            for k in ("kind", "amount", "masked_pan", "rc", "code", "stan", "batch", "rrn")
        }
        data |= {
            "outcome": result.outcome.value,
            "cardholder": words.cardholder.get(lang),
            "merchant": words.merchant.get(lang),
        }
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        console = Console()
        style = "green" if result.outcome is Outcome.APPROVED else "yellow"
        console.print(
            f"[{style}]{result.outcome.value}[/{style}] {result.kind} {result.amount / 100:.2f} "
            f"{result.masked_pan} rc={result.rc or '-'} code={result.code or '-'} "
            f"STAN={result.stan or '-'} RRN={result.rrn or '-'}"
        )
        console.print(f"cardholder: {words.cardholder.get(lang)}")
        console.print(f"merchant:   {words.merchant.get(lang)}")
    if result.outcome not in (Outcome.APPROVED, Outcome.STORED):
        raise typer.Exit(1)


@app.command()
def sale(
    pan: PanOpt,
    expiry: ExpiryOpt,
    amount: AmountOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = "zh",
    as_json: JsonOpt = False,
    via_service: Annotated[
        bool,
        typer.Option(
            "--via-service",
            help="Ask the running terminal service (its local socket) instead of opening the "
            "journal here / 通过运行中的终端服务交易",
        ),
    ] = False,
) -> None:
    """Sale / 消费."""
    fen = to_fen(amount)
    if via_service:
        _show(_via_service(config, pan, expiry, fen), lang, as_json)
        return
    _show(_with_terminal(config, lambda t: t.sale(pan, expiry, fen)), lang, as_json)


def _via_service(config: Path, pan: str, expiry: str, fen: int) -> TransactionResult:
    from posguard.common.errors import PosguardError
    from posguard.terminal.local_api import SOCKET_NAME, LocalApiError, request_sale
    from posguard.terminal.service import load_service_config

    _need_config(config)
    try:
        path = load_service_config(config).service.data_dir / SOCKET_NAME
        return asyncio.run(request_sale(path, pan, expiry, fen))
    except (PosguardError, LocalApiError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def balance(
    pan: PanOpt,
    expiry: ExpiryOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Balance inquiry / 余额查询."""
    result = _with_terminal(config, lambda t: t.balance_inquiry(pan, expiry))
    if result.balance is not None and not as_json:
        typer.echo(f"balance: {result.balance / 100:.2f}")
    _show(result, lang, as_json)


@app.command()
def void(
    stan: Annotated[str, typer.Option(help="STAN of the sale")],
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Void a sale of the current batch / 撤销."""
    _show(_with_terminal(config, lambda t: t.void(stan)), lang, as_json)


@app.command()
def refund(
    stan: Annotated[str, typer.Option(help="STAN of the sale")],
    amount: AmountOpt,
    batch: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Refund (advice, store-and-forward) / 退货."""
    result = _with_terminal(config, lambda t: t.refund(stan, to_fen(amount), batch=batch))
    _show(result, lang, as_json)


@app.command()
def preauth(
    pan: PanOpt,
    expiry: ExpiryOpt,
    amount: AmountOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Pre-authorisation / 预授权."""
    _show(_with_terminal(config, lambda t: t.preauth(pan, expiry, to_fen(amount))), lang, as_json)


@app.command()
def completion(
    stan: Annotated[str, typer.Option(help="STAN of the pre-auth")],
    amount: AmountOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Pre-authorisation completion / 预授权完成."""
    _show(_with_terminal(config, lambda t: t.completion(stan, to_fen(amount))), lang, as_json)


@app.command()
def settle(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Settle the batch (batch upload when out of balance) / 结算."""
    r: SettlementResult = _with_terminal(config, lambda t: t.settle())
    t = r.totals
    typer.echo(
        f"batch {r.batch}: {'balanced' if r.balanced else 'NOT settled'} rc={r.rc or '-'} "
        f"code={r.code or '-'} debits {t.debit_count}/{t.debit_amount / 100:.2f} "
        f"credits {t.credit_count}/{t.credit_amount / 100:.2f} uploaded={r.uploaded} "
        f"next batch {r.next_batch}"
    )
    if not r.balanced:
        raise typer.Exit(1)


@app.command("sign-on")
def sign_on(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Sign on and fetch working keys / 签到."""
    reply = _with_terminal(config, lambda t: t.sign_on())
    typer.echo(
        f"{reply.status.value} rc={reply.rc or '-'} code={reply.code or '-'} host={reply.host}"
    )
    if reply.rc != "00":
        raise typer.Exit(1)


@app.command("catch-up")
def catch_up(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Send pending reversals and queued advices now / 立即发送冲正和离线通知."""
    left = _with_terminal(config, lambda t: t.catch_up())
    typer.echo(f"reversals pending: {left[0]}, advices queued: {left[1]}")
    if left != (0, 0):
        raise typer.Exit(1)


@app.command()
def journal(
    config: ConfigOpt = DEFAULT_CONFIG, batch: Annotated[str | None, typer.Option()] = None
) -> None:
    """Show the journal (card numbers masked) / 查看流水."""

    async def rows(t: Terminal) -> list[list[str]]:
        return [
            [
                r.stan,
                r.batch,
                f"{r.kind.value} TRAINING/培训" if r.training else r.kind.value,
                r.state.value,
                f"{r.amount / 100:.2f}",
                r.masked_pan,
                r.rc or "",
                r.code or "",
                r.reversal_reason or "",
            ]
            for r in t.journal.records(batch=batch)
        ]

    from posguard.cli_support.tables import Col, fit_table

    cols = [
        Col("STAN", keep=True),
        Col("batch", keep=True, drop=2),
        Col("type", keep=True),
        Col("state", keep=True),
        Col("amount", keep=True, justify="right"),
        Col("card", keep=True),
        Col("rc", keep=True),
        Col("code", keep=True, drop=3),
        Col("rev", drop=1),
    ]
    console = Console()
    console.print(fit_table(cols, _with_terminal(config, rows), width=console.width))


@app.command()
def training(
    mode: Annotated[str, typer.Argument(help="on | off | status")] = "status",
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Training mode: practice transactions that never move money / 培训模式."""
    if mode not in ("on", "off", "status"):
        typer.echo(f"error: training mode must be on, off or status, not {mode!r}", err=True)
        raise typer.Exit(2)

    async def switch(t: Terminal) -> bool:
        if mode != "status":
            await t.set_training(mode == "on")
        return t.training

    on = _with_terminal(config, switch)
    typer.echo(
        "training mode ON: practice only, nothing is charged / 培训模式：练习交易，不扣款"
        if on
        else "training mode off: live transactions / 正常交易模式"
    )


@app.command()
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
    lang: Annotated[str | None, typer.Option("--lang", help="zh or en")] = None,
) -> None:
    """Write a working terminal config for the lab host / 生成实验主机的终端配置.

    The lab terminal's IDs, its TMK in an owner-only key file beside the config, the lab host
    and a backup; prints the next commands."""
    from posguard.common.errors import PosguardError
    from posguard.terminal.lab_config import ConfigExistsError, write_lab_config

    lang = _lang(lang)
    try:
        w = write_lab_config(path, primary=primary, backup=backup, force=force)
    except ConfigExistsError as exc:
        say_error(
            f"{exc.path} 已存在：保留它，或加 --force 覆盖" if lang == "zh" else str(exc), lang
        )
        raise typer.Exit(2) from None
    except PosguardError as exc:
        say_error(str(exc), lang)
        raise typer.Exit(2) from None
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


def _lang(value: str | None) -> str:
    from posguard.cli_support.lang import UnknownLanguageError, resolve_lang

    try:
        return resolve_lang(value)
    except UnknownLanguageError:
        say_error(f"unknown language {value!r}; use zh or en", "en")
        raise typer.Exit(2) from None


# Operations commands (doctor, supervise, update, printer) live in their own module.
from posguard.terminal.ops_cli import register as _register_ops  # noqa: E402

_register_ops(app)
