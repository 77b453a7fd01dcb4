"""Operations commands of ``posguard terminal``: doctor, supervise, update, printer.

They are registered on the terminal CLI's ``app`` by :func:`register` (kept apart from the
transaction commands in ``cli.py``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.common.errors import PosguardError
from posguard.terminal.cli_words import words
from posguard.terminal.config import DEFAULT_CONFIG
from posguard.terminal.config_cli import config_app
from posguard.terminal.ops_text import (
    no_fleet_warning,
    printer_identity,
    printer_line,
    supervisor_summary,
)

if TYPE_CHECKING:
    from posguard.terminal.update import SlotUpdater

_CONFIG = typer.Option("--config", "-c", help="Terminal config file (YAML) / 终端配置文件")
_ROOT = typer.Option("--root", help="Directory holding slots/a, slots/b and current.")
_EVENTS_CONFIG = typer.Option(
    "--config",
    "-c",
    help="The service's terminal YAML: SW.UPDATE_FAILED and the update's lifecycle go to its "
    "outbox (the fleet hears of them).",
)


def doctor(
    config: Annotated[Path, _CONFIG] = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output / 输出 JSON")] = False,
    check: Annotated[
        str | None, typer.Option("--check", help="Run one check only, e.g. doctor.iso_echo.")
    ] = None,
    lang: LangOption = None,
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
        ok = print_report(reports, Console(), lang or "zh")  # resolved by FaceApp
    raise typer.Exit(0 if ok else 1)


def supervise(
    command: Annotated[list[str], typer.Argument(help="The runtime command to supervise.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The service's terminal YAML: its outbox, terminal and merchant IDs are used "
            "for DEV.FREEZE / SW.CRASH (unless --outbox is given).",
        ),
    ] = None,
    interval: Annotated[float, typer.Option(help="Heartbeat interval, seconds.")] = 1.0,
    missed: Annotated[int, typer.Option(help="Missed heartbeats that count as a hang.")] = 5,
    grace: Annotated[float, typer.Option(help="Seconds from SIGTERM to SIGKILL.")] = 5.0,
    startup: Annotated[float, typer.Option(help="Seconds allowed before the first beat.")] = 30.0,
    backoff: Annotated[float, typer.Option(help="First restart delay, seconds (doubles).")] = 0.5,
    backoff_cap: Annotated[float, typer.Option(help="Longest restart delay, seconds.")] = 30.0,
    healthy: Annotated[
        float, typer.Option(help="Seconds of healthy running that reset the backoff.")
    ] = 60.0,
    crash_limit: Annotated[
        int, typer.Option(help="Crashes/freezes within --crash-window that end in SW.CRASH_LOOP.")
    ] = 5,
    crash_window: Annotated[float, typer.Option(help="Crash-loop window, seconds.")] = 300.0,
    update_root: Annotated[
        Path | None,
        typer.Option(help="Two-slot update root: recover, confirm after probation, roll back."),
    ] = None,
    exit_ends: Annotated[
        bool,
        typer.Option(
            "--exit-ends",
            help="A clean exit of COMMAND ends supervision (default: a runtime that stops "
            "without the supervisor asking is reported as SW.CRASH and restarted).",
        ),
    ] = False,
    outbox: Annotated[
        Path | None, typer.Option(help="Event outbox (SQLite) for DEV.FREEZE / SW.CRASH.")
    ] = None,
    terminal_id: Annotated[str, typer.Option(help="Terminal ID for events.")] = "T0000000",
    merchant_id: Annotated[str, typer.Option(help="Merchant ID for events.")] = "000000000000000",
    lang: LangOption = None,
) -> None:
    """Run COMMAND under the watchdog: restart it when it hangs or crashes / 看门狗守护运行.

    Exit status: 0 after a clean stop, 2 for bad options, 3 when it stopped restarting
    (crash loop)."""
    from posguard.terminal.supervise_events import SupervisorEvents
    from posguard.terminal.update_guard import UpdateGuard
    from posguard.terminal.watchdog import Supervisor, install_signal_handlers

    try:
        events = SupervisorEvents.from_options(config, outbox, terminal_id, merchant_id)
        hooks = None
        if update_root is not None:
            from posguard.terminal.update import SlotUpdater

            hooks = UpdateGuard(SlotUpdater(update_root, emit=events, create=False))
        sup = Supervisor(
            command,
            interval=interval,
            missed=missed,
            grace=grace,
            startup=startup,
            emit=events,
            restart_backoff=backoff,
            restart_backoff_cap=backoff_cap,
            healthy_s=healthy,
            crash_limit=crash_limit,
            crash_window=crash_window,
            hooks=hooks,
            restart_on_clean_exit=not exit_ends,
        )
    except (PosguardError, ValueError) as exc:
        raise CliError(
            f"cannot supervise: {exc}", f"无法启动看门狗：{exc}", exit_code=ExitCode.USAGE
        ) from exc
    if events.target is None:
        typer.echo(no_fleet_warning(lang or "zh"), err=True)
    install_signal_handlers(sup)
    try:
        stats = sup.run()
    finally:
        events.close()
    typer.echo(
        supervisor_summary(stats.starts, stats.freezes, stats.crashes, stats.final, lang or "zh")
    )
    raise typer.Exit(stats.supervisor_exit_code)


def run(config: Annotated[Path, _CONFIG] = DEFAULT_CONFIG, lang: LangOption = None) -> None:
    """Run the terminal service (resume, heartbeat, catch-up, printing, telemetry, commands).
    终端常驻服务。Run it under `posguard terminal supervise -- ...`."""
    import asyncio

    from posguard.terminal.service import TerminalService, load_service_config
    from posguard.terminal.watchdog import Heartbeat, start_reason

    try:
        service = TerminalService(load_service_config(config), config_path=config)
    except PosguardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    code = asyncio.run(service.serve(Heartbeat.from_env(), start_reason()))
    raise typer.Exit(code)


update_app = FaceApp(help="Two-slot software update / 双分区升级.", no_args_is_help=True)


@contextlib.contextmanager
def _slot_updater(
    root: Path, check_timeout: float, config: Path | None, **options: Any
) -> Iterator[SlotUpdater]:
    """The existing slot layout under ``root``, its health check limited to ``check_timeout``,
    sending SW.* events to ``config``'s outbox (closed after); a bad --root or --config, or
    an error of the step run with it: one line, exit 2."""
    from posguard.terminal.supervise_events import SupervisorEvents
    from posguard.terminal.update import SlotUpdater, process_health_check

    events: SupervisorEvents | None = None
    try:
        events = SupervisorEvents.from_options(config, None, "T0000000", "000000000000000")
        check = process_health_check(check_timeout)
        yield SlotUpdater(root, check, emit=events, create=False, **options)
    except PosguardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        if events is not None:
            events.close()


@update_app.command("apply")
def update_apply(
    package: Annotated[Path, typer.Argument(help="Package directory or .tar.gz")],
    root: Annotated[Path, _ROOT],
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 of the package.")] = None,
    probation: Annotated[
        float,
        typer.Option(
            help="Seconds the new version must run healthy under `supervise --update-root` "
            "(which confirms it, or rolls it back if it crashes or freezes first) before it is "
            "known good; 0 confirms it once its health check passes (no watchdog)."
        ),
    ] = 120.0,
    check_timeout: Annotated[float, typer.Option(help="Health check time limit, s.")] = 60.0,
    config: Annotated[Path | None, _EVENTS_CONFIG] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            help="Trusted signing key (ed25519:...), repeatable: the package must be signed by "
            "one of them (its <package>.sig, or --signature)."
        ),
    ] = None,
    signature: Annotated[
        str | None, typer.Option(help="The package's signature (default: <package>.sig).")
    ] = None,
    lang: LangOption = None,
) -> None:
    """Install into the inactive slot, health-check it there, switch; probation.
    Exit 0 switched, 1 failed or refused (the old version runs), 2 bad --root or --config."""
    from posguard.terminal.update import UpdateOutcome

    with _slot_updater(
        root, check_timeout, config, probation_s=probation, trusted_keys=public_key or ()
    ) as up:
        result = up.apply(package, sha256=sha256, signature=signature)
    w = words(lang or "zh")
    runs = w["slot_runs"].format(result.active_slot, result.version)
    typer.echo(f"{result.outcome.value}: {runs} ({result.detail})")
    ok = result.outcome in (UpdateOutcome.UPDATED, UpdateOutcome.ON_PROBATION)
    raise typer.Exit(0 if ok else 1)


@update_app.command("init")
def update_init(root: Annotated[Path, _ROOT], lang: LangOption = None) -> None:
    """Create the slot layout (slots/a, slots/b, current -> slots/a) under --root."""
    from posguard.terminal.update import SlotUpdater

    up, w = SlotUpdater(root), words(lang or "zh")
    typer.echo(w["slot_runs"].format(up.active_slot(), up.version() or w["slot_holds_nothing"]))


@update_app.command("rollback")
def update_rollback(
    root: Annotated[Path, _ROOT],
    check_timeout: Annotated[float, typer.Option(help="Health check time limit, s.")] = 60.0,
    config: Annotated[Path | None, _EVENTS_CONFIG] = None,
    lang: LangOption = None,
) -> None:
    """Switch back to the other slot, if it holds a known good version that passes its check.
    Exit 0 rolled back, 1 refused (nothing switched), 2 bad --root or --config."""
    from posguard.terminal.update import UpdateOutcome

    with _slot_updater(root, check_timeout, config) as up:
        result = up.rollback()
    w = words(lang or "zh")
    runs = w["slot_runs"].format(result.active_slot, result.version)
    if result.outcome is not UpdateOutcome.ROLLED_BACK:
        typer.echo(f"{w['refused']}: {result.detail}; {runs}")
        raise typer.Exit(1)
    typer.echo(runs)


@update_app.command("status")
def update_status(
    root: Annotated[Path, _ROOT],
    as_json: Annotated[bool, typer.Option("--json", help="JSON output / 输出 JSON")] = False,
    lang: LangOption = None,
) -> None:
    """Which slot runs which version, what is known good, the update under way, the last
    failure (SW.UPDATE_FAILED). Never creates anything under --root."""
    import json

    from posguard.terminal.update import SlotUpdater

    try:
        st = SlotUpdater(root, create=False).status()
    except PosguardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(st, ensure_ascii=False, sort_keys=True))
        return
    w = words(lang or "zh")
    for slot in ("a", "b"):
        mark = "*" if slot == st["active_slot"] else " "
        good = w["known_good"] if st["known_good"].get(slot) == st["slots"][slot] else ""
        typer.echo(f"{mark} {slot}: {st['slots'][slot] or w['slot_holds_nothing']}{good}")
    if st["state"] != "idle":
        extra = w["probation"].format(st["probation_s"]) if st["probation_s"] else ""
        typer.echo(f"{w['update']}: {st['state']} {st['to_version']}{extra}")
    failure = st["last_failure"]
    if failure is not None:
        typer.echo(
            f"{w['last_failure']}: {failure['code']} {w['at']} {failure['at']}: "
            f"{failure['to_version']} ({failure['stage']}): {failure['reason']}"
        )


printer_app = FaceApp(help="Receipt printer / 小票打印机.", no_args_is_help=True)


@printer_app.command("status")
def printer_status(
    host: Annotated[str, typer.Option(help="Network printer address.")],
    port: Annotated[int, typer.Option(help="Raw TCP port.")] = 9100,
    timeout: Annotated[float, typer.Option(help="Seconds per status query.")] = 1.0,
    lang: LangOption = None,
) -> None:
    """Query a network printer (DLE EOT 1-4, GS I): its state and catalog code /
    查询网络打印机的状态和故障代码.

    Exit status 0 when a receipt would print, 1 when not."""
    from posguard.terminal.printer.ports import NetworkPort

    said = lang or "zh"  # resolved by FaceApp
    p = NetworkPort(host, port, timeout=timeout)
    try:
        status = p.status()
        ident = p.identify()
    finally:
        p.close()
    typer.echo(printer_line(status.value, status.code, said))
    if ident.known:
        typer.echo(printer_identity(ident.model_name, ident.model_id, ident.manufacturer, said))
    raise typer.Exit(0 if status.can_print else 1)


@printer_app.command("render")
def printer_render(
    receipt_json: Annotated[Path, typer.Argument(help="A ReceiptData JSON file.")],
    profile: Annotated[str, typer.Option(help="Printer profile name.")] = "generic-58-gbk",
    out: Annotated[Path | None, typer.Option(help="Write the ESC/POS bytes here.")] = None,
    lang: LangOption = None,
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
    app.add_typer(config_app, name="config")
