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

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.common.errors import PosguardError
from posguard.terminal.cli_errors import config_error, host_unreachable, missing_config
from posguard.terminal.cli_words import words
from posguard.terminal.config import DEFAULT_CONFIG
from posguard.terminal.engine.settlement import SettlementResult
from posguard.terminal.result import Outcome, TransactionResult
from posguard.terminal.runtime import Terminal

app = FaceApp(help="The terminal runtime / 终端运行时.", no_args_is_help=True)

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
LangOpt = LangOption
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
    service on the same journal. A bad config, key file or journal is one line
    (:mod:`posguard.terminal.cli_errors`)."""
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
        raise config_error(exc, config) from exc
    try:
        return asyncio.run(main())
    except PosguardError as exc:
        raise config_error(exc, config) from exc
    finally:
        if lock is not None:
            lock.release()


def _need_config(config: Path) -> None:
    """A missing config file is one line naming it and how to write one (exit 2)."""
    if not config.exists():
        raise missing_config(config)


def _hosts(config: Path) -> str:
    from posguard.terminal.service import load_service_config

    hosts = load_service_config(config).terminal.hosts
    return ", ".join(f"{h.name} {h.address}" for h in hosts)


def _unreachable(code: str | None, config: Path) -> None:
    """Nothing reached a host for a network reason: one line with the code and next step."""
    if code is not None and code.startswith("NET."):
        raise host_unreachable(code, _hosts(config), config)


def _show(result: TransactionResult, lang: str, as_json: bool, config: Path) -> None:
    words_ = result.words
    if as_json:
        data = {
            k: getattr(result, k)
            for k in ("kind", "amount", "masked_pan", "rc", "code", "stan", "batch", "rrn")
        }
        data |= {
            "outcome": result.outcome.value,
            "cardholder": words_.cardholder.get(lang),
            "merchant": words_.merchant.get(lang),
        }
        typer.echo(json.dumps(data, ensure_ascii=False))
    if result.outcome is Outcome.FAILED_NO_CHARGE and result.rc is None:
        _unreachable(result.code, config)  # one line instead of the result (after the JSON)
    if not as_json:
        w = words(lang)
        console = Console()
        style = "green" if result.outcome is Outcome.APPROVED else "yellow"
        console.print(
            f"[{style}]{result.outcome.value}[/{style}] {result.kind} {result.amount / 100:.2f} "
            f"{result.masked_pan} rc={result.rc or '-'} code={result.code or '-'} "
            f"STAN={result.stan or '-'} RRN={result.rrn or '-'}"
        )
        console.print(f"{w['cardholder']}{words_.cardholder.get(lang)}")
        console.print(f"{w['merchant']}{words_.merchant.get(lang)}")
    if result.outcome not in (Outcome.APPROVED, Outcome.STORED):
        raise typer.Exit(1)


@app.command()
def sale(
    pan: PanOpt,
    expiry: ExpiryOpt,
    amount: AmountOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = None,
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
        _show(_via_service(config, pan, expiry, fen), _lang(lang), as_json, config)
        return
    _show(_with_terminal(config, lambda t: t.sale(pan, expiry, fen)), _lang(lang), as_json, config)


def _via_service(config: Path, pan: str, expiry: str, fen: int) -> TransactionResult:
    from posguard.terminal.local_api import SOCKET_NAME, LocalApiError, request_sale
    from posguard.terminal.service import load_service_config

    _need_config(config)
    try:
        path = load_service_config(config).service.data_dir / SOCKET_NAME
        return asyncio.run(request_sale(path, pan, expiry, fen))
    except PosguardError as exc:
        raise config_error(exc, config) from exc
    except LocalApiError as exc:
        raise CliError(
            f"{exc}. Start it with `posguard terminal run -c {config}`, or leave out "
            "--via-service.",
            f"终端服务没有应答：{exc}。请用 `posguard terminal run -c {config}` 启动，"
            "或去掉 --via-service。",
            exit_code=ExitCode.UNAVAILABLE,
        ) from exc


@app.command()
def balance(
    pan: PanOpt,
    expiry: ExpiryOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Balance inquiry / 余额查询."""
    result = _with_terminal(config, lambda t: t.balance_inquiry(pan, expiry))
    if result.balance is not None and not as_json:
        typer.echo(f"{words(_lang(lang))['balance']}{result.balance / 100:.2f}")
    _show(result, _lang(lang), as_json, config)


@app.command()
def void(
    stan: Annotated[str, typer.Option(help="STAN of the sale")],
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Void a sale of the current batch / 撤销."""
    _show(_with_terminal(config, lambda t: t.void(stan)), _lang(lang), as_json, config)


@app.command()
def refund(
    stan: Annotated[str, typer.Option(help="STAN of the sale")],
    amount: AmountOpt,
    batch: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refund (advice, store-and-forward) / 退货."""
    result = _with_terminal(config, lambda t: t.refund(stan, to_fen(amount), batch=batch))
    _show(result, _lang(lang), as_json, config)


@app.command()
def preauth(
    pan: PanOpt,
    expiry: ExpiryOpt,
    amount: AmountOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pre-authorisation / 预授权."""
    _show(
        _with_terminal(config, lambda t: t.preauth(pan, expiry, to_fen(amount))),
        _lang(lang),
        as_json,
        config,
    )


@app.command()
def completion(
    stan: Annotated[str, typer.Option(help="STAN of the pre-auth")],
    amount: AmountOpt,
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pre-authorisation completion / 预授权完成."""
    _show(
        _with_terminal(config, lambda t: t.completion(stan, to_fen(amount))),
        _lang(lang),
        as_json,
        config,
    )


@app.command()
def settle(config: ConfigOpt = DEFAULT_CONFIG, lang: LangOpt = None) -> None:
    """Settle the batch (batch upload when out of balance) / 结算."""
    r: SettlementResult = _with_terminal(config, lambda t: t.settle())
    t, w = r.totals, words(_lang(lang))
    if r.rc is None:
        _unreachable(r.code, config)
    typer.echo(
        f"{w['batch']} {r.batch}: {w['balanced'] if r.balanced else w['not_settled']} "
        f"rc={r.rc or '-'} code={r.code or '-'} "
        f"{w['debits']} {t.debit_count}/{t.debit_amount / 100:.2f} "
        f"{w['credits']} {t.credit_count}/{t.credit_amount / 100:.2f} "
        f"{w['uploaded']}={r.uploaded} {w['next_batch']} {r.next_batch}"
    )
    if not r.balanced:
        raise typer.Exit(1)


@app.command("sign-on")
def sign_on(config: ConfigOpt = DEFAULT_CONFIG, lang: LangOpt = None) -> None:
    """Sign on and fetch working keys / 签到."""
    reply = _with_terminal(config, lambda t: t.sign_on())
    if reply.rc is None:
        _unreachable(reply.code, config)
    w = words(_lang(lang))
    typer.echo(
        f"{reply.status.value} rc={reply.rc or '-'} code={reply.code or '-'} "
        f"{w['host']}={reply.host}"
    )
    if reply.rc != "00":
        raise typer.Exit(1)


@app.command("catch-up")
def catch_up(config: ConfigOpt = DEFAULT_CONFIG, lang: LangOpt = None) -> None:
    """Send pending reversals and queued advices now / 立即发送冲正和离线通知."""
    left = _with_terminal(config, lambda t: t.catch_up())
    typer.echo(words(_lang(lang))["pending"].format(*left))
    if left != (0, 0):
        raise typer.Exit(1)


@app.command()
def journal(
    config: ConfigOpt = DEFAULT_CONFIG,
    batch: Annotated[str | None, typer.Option()] = None,
    lang: LangOpt = None,
) -> None:
    """Show the journal (card numbers masked) / 查看流水."""

    async def rows(t: Terminal) -> list[list[str]]:
        return [
            [
                r.stan,
                r.batch,
                f"{r.kind.value} TRAINING/培训" if r.training else r.kind.value,
                r.state.value,
                f"{r.amount / 100:,.2f}",
                r.masked_pan,
                r.rc or "",
                r.code or "",
                r.reversal_reason or "",
            ]
            for r in t.journal.records(batch=batch)
        ]

    from posguard.cli_support.tables import Col, fit_table

    w = words(_lang(lang))
    cols = [
        Col(w["stan"], keep=True),
        Col(w["batch"], keep=True, drop=2),
        Col(w["type"], keep=True),
        Col(w["state"], keep=True),
        Col(w["amount"], keep=True, justify="right"),
        Col(w["card"], keep=True),
        Col(w["rc"], keep=True),
        Col(w["code"], keep=True, drop=3),
        Col(w["rev"], drop=1),
    ]
    console = Console()
    found = _with_terminal(config, rows)
    if not found:
        typer.echo(w["empty"])
        return
    console.print(fit_table(cols, found, width=console.width))


@app.command()
def training(
    mode: Annotated[str, typer.Argument(help="on | off | status")] = "status",
    config: ConfigOpt = DEFAULT_CONFIG,
    lang: LangOption = None,
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


def _lang(value: str | None) -> str:
    """The language FaceApp resolved (``zh`` / ``en``)."""
    from posguard.cli_support.lang import resolve_lang

    return resolve_lang(value)


# `init` and the operations commands (doctor, supervise, update, printer) live in their own
# modules.
from posguard.terminal.cli_init import register as _register_init  # noqa: E402
from posguard.terminal.ops_cli import register as _register_ops  # noqa: E402

_register_init(app)
_register_ops(app)
