"""`posguard fleet diagnose`: a diagnosis shard or the correlator outside the API."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import fleet_errors, fleet_settings, require_usable_database
from posguard.fleet.cli_options import DbOpt


def register(app: typer.Typer) -> None:
    """Add `diagnose` to the fleet app."""
    app.command("diagnose")(diagnose)


def diagnose(
    db: DbOpt = None,
    lang: LangOption = None,
    shard: Annotated[int, typer.Option(min=0, help="This process's shard K (0 <= K < N).")] = 0,
    of: Annotated[int, typer.Option("--of", min=1, help="How many shards (N).")] = 1,
    correlator: Annotated[
        bool,
        typer.Option(
            "--correlator",
            help="Run the fleet-wide rules (host / area / model / issuer) instead; one at a "
            "time by a PostgreSQL advisory lock, a second one waits and takes over.",
        ),
    ] = False,
    poll: Annotated[float, typer.Option(min=0.05, max=60, help="Seconds between steps.")] = 0.2,
) -> None:
    """Run a diagnoser outside the API: shard K of N, or the correlator / 独立运行诊断分片.

    Supervised: a database restart fails a round, which is logged once and started again with
    back-off; the process keeps running (SIGINT / SIGTERM stop it)."""
    from posguard.fleet.context import FleetContext
    from posguard.fleet.diagnosis.leader import AdvisoryLock
    from posguard.fleet.diagnosis.runner import run_diagnoser
    from posguard.fleet.diagnosis.shard import ShardRole
    from posguard.fleet.notify import service as notify_service
    from posguard.fleet.supervise import LoopRegistry

    try:
        role = ShardRole.correlator() if correlator else ShardRole.parse(shard, of)
    except ValueError as exc:
        raise CliError(f"--shard/--of: {exc}", f"--shard/--of 不对：{exc}") from exc
    settings = fleet_settings(db)
    require_usable_database(settings)
    with fleet_errors("diagnose"):
        ctx = FleetContext.build(settings)
    lock = AdvisoryLock(ctx.engine) if role.correlate else None
    # the incidents this process opens enqueue their notifications; the API workers deliver
    notify_service.install_hook(ctx)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run_diagnoser(
            ctx,
            role,
            stop,
            poll_s=poll,
            registry=LoopRegistry(),
            lock=lock,
            say=typer.echo,
        )

    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            with contextlib.suppress(Exception):
                lock.release()
        ctx.close()
