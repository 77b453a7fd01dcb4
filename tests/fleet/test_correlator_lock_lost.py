"""A correlator whose lock is gone stops deciding: one correlator at a time (issue #15) holds
only if the one whose lock connection the server dropped does not go on stepping beside the one
that takes the lock next."""

from __future__ import annotations

import asyncio

import pytest

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService, LockLostError
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.incidents import Applied

from .conftest import T0, FleetDB


def _correlator(db: FleetDB) -> tuple[DiagnosisService, list[int]]:
    catalog = default_catalog()
    service = DiagnosisService(
        db.sessions,
        rules=load_rules(catalog=catalog),
        catalog=catalog,
        clock=FakeClock(T0),
        role=ShardRole.correlator(),
    )
    steps: list[int] = []
    step = service.step

    def counted() -> Applied:
        steps.append(1)
        return step()

    service.step = counted  # type: ignore[method-assign]
    return service, steps


def test_a_correlator_that_lost_its_lock_takes_no_further_step(sqlite_db: FleetDB) -> None:
    service, steps = _correlator(sqlite_db)
    held = [True, True, False]  # the server drops the lock after two steps

    async def main() -> None:
        await service.run(asyncio.Event(), poll_s=0.0, holds=lambda: held.pop(0))

    with pytest.raises(LockLostError, match="correlator lock was lost"):
        asyncio.run(main())
    assert len(steps) == 2


def test_a_correlator_holding_its_lock_steps_until_stopped(sqlite_db: FleetDB) -> None:
    service, steps = _correlator(sqlite_db)
    stop = asyncio.Event()
    asked = []

    def holds() -> bool:
        asked.append(1)
        if len(asked) == 3:
            stop.set()
        return True

    asyncio.run(service.run(stop, poll_s=0.0, holds=holds))
    assert len(steps) == 3
