"""A diagnosis step is all-or-nothing on SQLite too (issue #15). pysqlite begins a transaction
only at the first write, so a savepoint opened before any write began the transaction itself
and its release committed: the group incident a step opened one by one stayed committed when
the rest of the step failed, without the cursor that led to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Incident

from . import test_correlation as scenarios
from .conftest import T0, FleetDB
from .test_shards_counts import ShardedRig


def test_a_failed_step_leaves_no_incident_behind(
    fleet_db: FleetDB, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios._fleet(fleet_db)
    rig = ShardedRig(fleet_db, clock)
    rig.correlator.step()  # its once-a-minute clean-up of old counts (a write) is done
    for i in range(40):
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=i))
    for shard in rig.shards:
        shard.step()
    corr = rig.correlator

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the step fails after its decisions were applied")

    monkeypatch.setattr(corr.applier, "sweep", fail)  # the correlator's only write is the open
    with pytest.raises(RuntimeError):
        corr.step()
    with fleet_db.sessions() as s:
        assert s.scalars(select(Incident).where(Incident.terminal_id.is_(None))).all() == []
    monkeypatch.undo()
    fresh = ShardedRig(fleet_db, clock).correlator  # restarted: the step is decided again
    fresh.step()
    with fleet_db.sessions() as s:
        groups = s.scalars(select(Incident).where(Incident.terminal_id.is_(None))).all()
    assert [g.scope for g in groups] == ["host:acq-east"]
