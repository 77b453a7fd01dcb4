"""`posguard host ...`: serve the acquirer host, run the fault proxy, write seed data, read the
journal and the reconciliation exceptions."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import getpass
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError, FaceApp, guarded
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError, PosguardError
from posguard.common.lab import LAB_HOST_PORT
from posguard.common.logging import configure_logging
from posguard.host.cli_errors import (
    data_dir_error,
    exception_headers,
    host_db_error,
    need_host_db,
    port_error,
)
from posguard.host.control import ControlServer
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger
from posguard.host.proxy import FaultProxy
from posguard.host.seed import default_seed, dump_seed, load_seed
from posguard.host.server import HostConfig, HostServer, tls_context
from posguard.host.timeline import load_timeline, run_timeline
from posguard.iso8583.framing import LengthHeader

#: ``posguard host serve``'s gen-0 garbage collection threshold (Python's default is 700).
_GC_GEN0_THRESHOLD = 10_000

app = FaceApp(
    help="Acquirer host simulator and fault proxy / 收单主机模拟器与故障注入代理.",
    no_args_is_help=True,
)


def _addr(text: str, what: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise typer.BadParameter(f"{what} must be HOST:PORT, not {text!r}")
    return host or "127.0.0.1", int(port)


DATA_DIR = Path("var/host")
DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", help="Where the host keeps its files / 主机数据目录.")
]


def _db_path(data_dir: Path, db: Path | None, *, create: bool = False) -> Path:
    """The host database: ``--db`` when given, else ``<data_dir>/host.db`` (the directory made
    when ``create``)."""
    if db is not None:
        return db
    if create:
        data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir / "host.db"


def _fail(exc: PosguardError) -> CliError:
    return CliError(str(exc), str(exc))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = LAB_HOST_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    spec: Annotated[str, typer.Option(help="Message spec: iso87ascii or unionpay.")] = "iso87ascii",
    data_dir: DataDirOpt = DATA_DIR,
    db: Annotated[
        Path | None, typer.Option(help="Ledger and journal (SQLite); default DATA_DIR/host.db.")
    ] = None,
    seed: Annotated[
        Path | None, typer.Option(help="Seed file (YAML/JSON) loaded into the ledger at start.")
    ] = None,
    header: Annotated[str, typer.Option(help="Length header: binary2 or ascii4.")] = "binary2",
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve TLS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    sync: Annotated[
        str, typer.Option(help="Ledger durability: FULL (fsync each commit) or NORMAL.")
    ] = "FULL",
    log_json: Annotated[bool, typer.Option("--log-json", help="Logs as JSON lines.")] = False,
    lang: LangOption = None,
) -> None:
    """Run the ISO 8583 host / 运行ISO 8583主机. A new ledger gets the default seed
    (`posguard host lab` lists it). Its files go under --data-dir (default var/host/)."""
    try:
        db = _db_path(data_dir, db, create=True)
        seed_data = load_seed(seed) if seed else (None if db.exists() else default_seed())
        tls = tls_context(tls_cert, tls_key or tls_cert) if tls_cert else None
        if sync.upper() not in ("FULL", "NORMAL"):
            raise ConfigError("--sync must be FULL or NORMAL", value=sync)
        if not 0 <= port <= 65_535:
            raise ConfigError(f"--port {port}: a TCP port is 0 to 65535")
        cfg = HostConfig(
            host=host,
            port=port,
            spec=spec,
            db=str(db),
            tls=tls,
            length_header=LengthHeader[header.upper()],
            synchronous="FULL" if sync.upper() == "FULL" else "NORMAL",
        )
    except (PosguardError, KeyError) as exc:
        raise _fail(exc if isinstance(exc, PosguardError) else ConfigError(str(exc))) from exc
    except OSError as exc:
        raise data_dir_error(exc, data_dir) from exc
    if not os.access(db.parent, os.W_OK | os.X_OK):  # SQLite's own error would not say so
        denied = PermissionError(errno.EACCES, "permission denied", str(db.parent))
        raise data_dir_error(denied, data_dir)
    try:
        server = HostServer(cfg, seed=seed_data)  # opens (or creates) the ledger and journal
    except ConfigError as exc:
        raise host_db_error(exc, db) from exc

    configure_logging(json=log_json)
    # A sale allocates a few hundred container objects, nearly all freed by reference counting;
    # the default gen-0 threshold (700) ran a cycle collection every few sales (2 % of a sale's
    # instructions, bench/host_inprocess.py under callgrind). Cycles are still collected.
    gc.set_threshold(_GC_GEN0_THRESHOLD, 10, 10)

    async def main() -> None:
        try:
            await server.start()
        except OSError as exc:
            raise port_error(exc, host, port) from exc
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        typer.echo(
            f"host listening on {host}:{server.port} spec={spec} db={db}"
            f"{' tls' if tls else ''} / 主机已启动"
        )
        typer.echo(
            "next / 下一步: posguard host lab (test cards / 测试卡); posguard terminal init;"
            " posguard terminal sign-on; posguard terminal sale ..."
        )
        try:
            await stopping.wait()
        finally:
            in_flight = await server.stop()
        typer.echo(
            f"host stopped: {in_flight} request(s) in flight answered, journal flushed,"
            f" WAL checkpointed / 主机已停止"
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command()
def proxy(
    upstream: Annotated[str, typer.Option(help="HOST:PORT of the host to forward to.")],
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:0",
    control_port: Annotated[int, typer.Option(help="HTTP control API port on 127.0.0.1.")] = 0,
    timeline: Annotated[Path | None, typer.Option(help="YAML fault timeline to play.")] = None,
    header: Annotated[str, typer.Option(help="Length header: binary2 or ascii4.")] = "binary2",
    log_json: Annotated[bool, typer.Option("--log-json", help="Logs as JSON lines.")] = False,
    lang: LangOption = None,
) -> None:
    """Run the fault-injecting proxy / 运行故障注入代理 (control: GET/PUT/DELETE /faults).

    Fault kinds / 故障类型: refuse (hard: port closed), blackhole,
    delay, drop_response, reset_mid_frame, slice, corrupt, half_open,
    bandwidth, drop_connect (connects time out: a firewall dropping
    SYNs / 新连接超时, 如防火墙丢弃SYN).
    """
    try:
        plan = load_timeline(timeline) if timeline else None
    except ConfigError as exc:
        raise _fail(exc) from exc
    if header not in ("binary2", "ascii4"):
        raise typer.BadParameter("header must be binary2 or ascii4")

    configure_logging(json=log_json)

    async def main() -> None:
        p = FaultProxy(
            _addr(upstream, "--upstream"),
            listen=_addr(listen, "--listen"),
            header="binary2" if header == "binary2" else "ascii4",
        )
        try:
            await p.start()
        except OSError as exc:
            raise port_error(exc, *_addr(listen, "--listen")) from exc
        control = ControlServer(p, port=control_port)
        try:
            await control.start()
        except OSError as exc:
            await p.stop()
            raise port_error(exc, "127.0.0.1", control_port) from exc
        typer.echo(
            f"proxy listening on port {p.port} -> {upstream}; "
            f"control http://127.0.0.1:{control.port}/faults / 代理已启动"
        )
        try:
            if plan is not None:
                await run_timeline(p, plan)
                typer.echo("timeline finished / 时间线已执行完毕")
            await asyncio.Event().wait()
        finally:
            await control.stop()
            await p.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command("seed")
def seed_cmd(
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    lang: LangOption = None,
) -> None:
    """Write the default seed data / 输出默认种子数据 (accounts, cards, merchants, terminals)."""
    text = dump_seed(default_seed())
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


@app.command()
def journal(
    data_dir: DataDirOpt = DATA_DIR,
    db: Annotated[Path | None, typer.Option(help="The host's database (DATA_DIR/host.db).")] = None,
    tid: Annotated[str | None, typer.Option(help="Only this terminal.")] = None,
    since: Annotated[
        str | None, typer.Option(help="ISO time (UTC), e.g. 2026-01-31T08:00.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    lang: LangOption = None,
) -> None:
    """Show what the host saw and answered / 查看主机流水 (PANs masked)."""
    db = _db_path(data_dir, db)
    need_host_db(db, "journal")
    try:
        j = HostJournal.open(db)
    except ConfigError as exc:
        raise host_db_error(exc, db) from exc
    try:
        entries = j.query(tid=tid, since=since, limit=limit)
    finally:
        j.close()
    for e in entries:
        if as_json:
            typer.echo(json.dumps({k: getattr(e, k) for k in e.__slots__}, ensure_ascii=False))
        else:
            amount = "" if e.amount is None else f"{e.amount / 100:.2f}"
            typer.echo(
                f"{e.ts}  {e.peer:<21} {e.tid:<8} {e.mti:<4} {e.stan:<6} "
                f"{e.rc or '--':<2} {e.pan_masked:<19} {amount:>10}  {e.decision}"
            )


exceptions_app = FaceApp(
    help="Reconciliation exceptions / 对账差错: list them (no subcommand), resolve one.",
)
app.add_typer(exceptions_app, name="exceptions")


def exceptions(
    ctx: typer.Context,
    data_dir: DataDirOpt = DATA_DIR,
    db: Annotated[Path | None, typer.Option(help="The host's database (DATA_DIR/host.db).")] = None,
    tid: Annotated[str | None, typer.Option(help="Only this terminal.")] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch (6 digits).")] = None,
    state: Annotated[str | None, typer.Option(help="Only this state: open or resolved.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
    lang: LangOption = None,
) -> None:
    """Reconciliation exceptions from batch upload / 对账差错 (missing on terminal, missing on
    host, amount differs). The ledger is never changed by a settlement: this is the list to
    work through. `posguard host exceptions resolve ID --reason ...` closes one."""
    if ctx.invoked_subcommand is not None:
        return
    db = _db_path(data_dir, db)
    need_host_db(db, "ledger")
    if state is not None and state not in ("open", "resolved"):
        raise typer.BadParameter("--state must be open or resolved")
    try:
        led = Ledger.open(db)
    except ConfigError as exc:
        raise host_db_error(exc, db) from exc
    try:
        rows = led.exceptions(tid=tid, batch=batch, state=state)
    finally:
        led.close()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": e.id,
                        "tid": e.tid,
                        "batch": e.batch,
                        "stan": e.stan,
                        "kind": e.kind.value,
                        "state": e.state.value,
                        "txn_kind": e.txn_kind,
                        "host_txn_id": e.host_txn_id,
                        "host_amount": e.host_amount,
                        "terminal_amount": e.terminal_amount,
                        "pan_masked": e.pan_masked,
                        "found_at": e.found_at,
                        "resolved_by": e.resolved_by,
                        "resolved_at": e.resolved_at,
                        "resolution": e.resolution,
                    }
                    for e in rows
                ],
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        typer.echo("no reconciliation exceptions / 无对账差错")
        return
    h = exception_headers(lang or "zh")
    typer.echo(
        f"{h['id']:>4}  {h['tid']:<8} {h['batch']:<6} {h['stan']:<6} {h['kind']:<19} "
        f"{h['state']:<8} {h['txn']:<10} {h['host']:>10} {h['terminal']:>10}  {h['card']}"
    )
    for e in rows:
        typer.echo(
            f"{e.id:>4}  {e.tid:<8} {e.batch:<6} {e.stan:<6} {e.kind.value:<19} "
            f"{e.state.value:<8} {e.txn_kind:<10} {_money(e.host_amount):>10} "
            f"{_money(e.terminal_amount):>10}  {e.pan_masked}"
        )
        if e.state.value == "resolved":
            typer.echo(f"      resolved by {e.resolved_by} at {e.resolved_at}: {e.resolution}")


# the listing is the group's own callback, guarded like every command (one-line errors, --debug)
exceptions_app.callback(invoke_without_command=True)(guarded(exceptions))


@exceptions_app.command("resolve")
def resolve_exception(
    exc_id: Annotated[int, typer.Argument(metavar="ID", help="The exception's id (see the list).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is resolved / 处理说明 (kept with it).")
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="Who resolves it (default: the OS user).")
    ] = None,
    data_dir: DataDirOpt = DATA_DIR,
    db: Annotated[Path | None, typer.Option(help="The host's database (DATA_DIR/host.db).")] = None,
    lang: LangOption = None,
) -> None:
    """Mark one reconciliation exception resolved / 标记对账差错已处理 (who, when, why are
    recorded; the ledger's money is not touched). Unknown or already resolved ids are refused."""
    db = _db_path(data_dir, db)
    need_host_db(db, "ledger")
    who = by if by is not None else getpass.getuser()
    at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        led = Ledger.open(db)
    except ConfigError as exc:
        raise host_db_error(exc, db) from exc
    try:
        done = led.resolve_exception(exc_id, by=who, reason=reason, at=at)
    except ConfigError as exc:
        raise _fail(exc) from exc
    finally:
        led.close()
    typer.echo(
        f"exception {done.id} resolved / 已处理: {done.kind.value} {done.tid} batch {done.batch}"
        f" STAN {done.stan}, by {done.resolved_by} at {done.resolved_at}"
    )


def _money(fen: int | None) -> str:
    return "-" if fen is None else f"{fen / 100:.2f}"


@app.command()
def lab(
    seed: Annotated[
        Path | None, typer.Option(help="A seed file instead of the default seed / 种子文件")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    lang: LangOption = None,
) -> None:
    """The lab host's terminals, merchants and test cards / 实验主机的终端、商户与测试卡.

    From the seed, not from a host database; card numbers masked. The full test numbers are
    lab data: `posguard host seed` (src/posguard/host/data/seed.yaml)."""
    from posguard.host.lab_cli import print_lab

    assert lang is not None  # resolved by guarded
    print_lab(load_seed(seed) if seed else default_seed(), lang=lang, as_json=as_json)
