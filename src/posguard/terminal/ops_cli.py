"""Operations commands of ``posguard terminal``: doctor, supervise, update, printer.

They are registered on the terminal CLI's ``app`` by :func:`register` (kept apart from the
transaction commands in ``cli.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from posguard.common.errors import PosguardError

_CONFIG = typer.Option("--config", "-c", help="Terminal config file (YAML) / 终端配置文件")
_ROOT = typer.Option("--root", help="Directory holding slots/a, slots/b and current.")


def doctor(
    config: Annotated[Path, _CONFIG] = Path("terminal.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="JSON output / 输出 JSON")] = False,
    check: Annotated[
        str | None, typer.Option("--check", help="Run one check only, e.g. doctor.iso_echo.")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
) -> None:
    """Run the checklists for real: DNS, TCP, TLS, ISO echo, round trip, printer / 终端体检."""
    from posguard.terminal.doctor import (
        load_doctor_config,
        print_report,
        report_json,
        run_all,
        run_check,
    )

    try:
        cfg = load_doctor_config(config)
        reports = [run_check(check, cfg)] if check else run_all(cfg)
    except (PosguardError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(report_json(reports, cfg))
        ok = not any(r.result.value == "fail" for r in reports)
    else:
        ok = print_report(reports, Console(), lang)
    raise typer.Exit(0 if ok else 1)


def supervise(
    command: Annotated[list[str], typer.Argument(help="The runtime command to supervise.")],
    interval: Annotated[float, typer.Option(help="Heartbeat interval, seconds.")] = 1.0,
    missed: Annotated[int, typer.Option(help="Missed heartbeats that count as a hang.")] = 5,
    outbox: Annotated[
        Path | None, typer.Option(help="Event outbox (SQLite) for DEV.FREEZE / SW.CRASH.")
    ] = None,
    terminal_id: Annotated[str, typer.Option(help="Terminal ID for events.")] = "T0000000",
    merchant_id: Annotated[str, typer.Option(help="Merchant ID for events.")] = "000000000000000",
) -> None:
    """Run COMMAND under the watchdog: restart it when it hangs or crashes / 看门狗守护运行."""
    from posguard.terminal.agent.outbox import Outbox
    from posguard.terminal.watchdog import Supervisor, install_signal_handlers

    box = Outbox(outbox, terminal_id, merchant_id) if outbox else None
    sup = Supervisor(command, interval=interval, missed=missed, emit=box.emit if box else None)
    install_signal_handlers(sup)
    stats = sup.run()
    typer.echo(
        f"supervisor: {stats.starts} start(s), {stats.freezes} freeze(s), {stats.crashes} crash(es)"
    )
    raise typer.Exit(stats.exit_code or 0)


def run(config: Annotated[Path, _CONFIG] = Path("terminal.yaml")) -> None:
    """Run the terminal service (resume, heartbeat, catch-up, printing, telemetry, commands).
    终端常驻服务。Run it under `posguard terminal supervise -- ...`."""
    import asyncio

    from posguard.terminal.service import TerminalService, load_service_config
    from posguard.terminal.watchdog import Heartbeat, start_reason

    try:
        service = TerminalService(load_service_config(config))
    except PosguardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    code = asyncio.run(service.serve(Heartbeat.from_env(), start_reason()))
    raise typer.Exit(code)


update_app = typer.Typer(help="Two-slot software update / 双分区升级.", no_args_is_help=True)


@update_app.command("apply")
def update_apply(
    package: Annotated[Path, typer.Argument(help="Package directory or .tar.gz")],
    root: Annotated[Path, _ROOT],
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 of the package.")] = None,
) -> None:
    """Install into the inactive slot, switch, health-check; roll back on failure."""
    from posguard.terminal.update import SlotUpdater, UpdateOutcome

    result = SlotUpdater(root).apply(package, sha256=sha256)
    typer.echo(
        f"{result.outcome.value}: slot {result.active_slot} runs {result.version} ({result.detail})"
    )
    raise typer.Exit(0 if result.outcome is UpdateOutcome.UPDATED else 1)


@update_app.command("rollback")
def update_rollback(root: Annotated[Path, _ROOT]) -> None:
    """Switch back to the other slot."""
    from posguard.terminal.update import SlotUpdater

    try:
        result = SlotUpdater(root).rollback()
    except PosguardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"slot {result.active_slot} runs {result.version}")


@update_app.command("status")
def update_status(root: Annotated[Path, _ROOT]) -> None:
    """Show which slot runs which version."""
    from posguard.terminal.update import SlotUpdater

    up = SlotUpdater(root)
    active = up.active_slot()
    for slot in ("a", "b"):
        mark = "*" if slot == active else " "
        typer.echo(f"{mark} {slot}: {up.version(slot) or '(empty)'}")


printer_app = typer.Typer(help="Receipt printer / 小票打印机.", no_args_is_help=True)


@printer_app.command("status")
def printer_status(
    host: Annotated[str, typer.Option(help="Network printer address.")],
    port: Annotated[int, typer.Option(help="Raw TCP port.")] = 9100,
    timeout: Annotated[float, typer.Option(help="Seconds per status query.")] = 1.0,
) -> None:
    """Query a network printer (DLE EOT 1-4, GS I): its state and catalog code."""
    from posguard.terminal.printer.ports import NetworkPort

    p = NetworkPort(host, port, timeout=timeout)
    try:
        status = p.status()
        ident = p.identify()
    finally:
        p.close()
    typer.echo(f"{status.value} {status.code or ''}".strip())
    if ident.known:
        typer.echo(
            f"model {ident.model_name or '?'} id {ident.model_id} maker {ident.manufacturer or '?'}"
        )
    raise typer.Exit(0 if status.can_print else 1)


@printer_app.command("render")
def printer_render(
    receipt_json: Annotated[Path, typer.Argument(help="A ReceiptData JSON file.")],
    profile: Annotated[str, typer.Option(help="Printer profile name.")] = "generic-58-gbk",
    out: Annotated[Path | None, typer.Option(help="Write the ESC/POS bytes here.")] = None,
) -> None:
    """Render a receipt: a readable dump, or the raw ESC/POS bytes with --out."""
    from posguard.terminal.printer.dump import dump_escpos
    from posguard.terminal.printer.profiles import load_profile
    from posguard.terminal.printer.receipt import ReceiptData
    from posguard.terminal.printer.renderer import ReceiptRenderer

    try:
        prof = load_profile(profile)
        data = ReceiptRenderer(prof).render(ReceiptData.from_json(receipt_json.read_text("utf-8")))
    except (PosguardError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if out is not None:
        out.write_bytes(data)
    else:
        sys.stdout.write(dump_escpos(data, prof.encoding))


def register(app: typer.Typer) -> None:
    """Add the operations commands to the ``posguard terminal`` app."""
    app.command()(doctor)
    app.command()(supervise)
    app.command()(run)
    app.add_typer(update_app, name="update")
    app.add_typer(printer_app, name="printer")
