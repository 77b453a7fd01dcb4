"""The agent forgets an event only when the fleet confirms it, and resends what stays
unconfirmed: after a timeout a probe (the oldest batch) with growing waits, then, once the
probe is confirmed, everything sent before it at once. Played against a scripted publisher."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path

from posguard.common.event_ack import Ack
from posguard.common.events import Event, EventKind
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import PublishError
from posguard.terminal.agent.runner import TelemetryAgent

MID = "898310048990001"


class ScriptedPublisher:
    """Takes every batch (as a broker would: PUBACK) and confirms nothing by itself."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail = False

    async def publish(self, batch: Sequence[Event]) -> list[tuple[int, int]]:
        if self.fail:
            raise PublishError("broker away", code="NET.CONNECT_REFUSED")
        self.batches.append([e.seq for e in batch])
        return []

    async def close(self) -> None:
        pass


def _agent(tmp_path: Path, n: int, **kw: float) -> tuple[Outbox, ScriptedPublisher, TelemetryAgent]:
    box = Outbox(tmp_path / "o.db", "T1", MID)
    for i in range(n):
        box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i:06d}")
    pub = ScriptedPublisher()
    agent = TelemetryAgent(
        box,
        pub,
        heartbeat_interval=None,
        batch_size=int(kw.pop("batch_size", 2)),
        max_unconfirmed=int(kw.pop("max_unconfirmed", 100)),
        **kw,
    )
    return box, pub, agent


async def test_a_sent_event_stays_until_confirmed_and_a_repeat_confirmation_is_harmless(
    tmp_path: Path,
) -> None:
    box, pub, agent = _agent(tmp_path, 3, confirm_timeout=60)
    assert await agent.drain_once() == 2
    assert await agent.drain_once() == 1
    assert await agent.drain_once() == 0  # nothing new, nothing due: no resend before the timeout
    assert pub.batches == [[1, 2], [3]]
    assert box.pending() == 3
    agent.confirm(Ack("T1", ((1, 2),)))
    agent.confirm(Ack("T1", ((1, 2),)))  # the same confirmation again (QoS 1 redelivery)
    assert [e.seq for e in box.peek()] == [3]
    assert agent.state.confirmed == 2
    assert agent.unconfirmed == 1


async def test_unconfirmed_events_are_probed_then_flushed_once_the_probe_is_confirmed(
    tmp_path: Path,
) -> None:
    box, pub, agent = _agent(tmp_path, 6, confirm_timeout=0.05, confirm_timeout_cap=0.4)
    for _ in range(3):
        await agent.drain_once()
    assert pub.batches == [[1, 2], [3, 4], [5, 6]]  # all sent; the broker then lost them
    await asyncio.sleep(0.06)
    assert await agent.drain_once() == 2
    assert pub.batches[-1] == [1, 2]  # the probe: only the oldest batch
    assert await agent.drain_once() == 0  # the others wait for the probe's answer
    # the probe arrived: 3-6 were sent well before it (more than 1/4 of the timeout), so they
    # are presumed lost and due at once, not after their own waits
    agent.confirm(Ack("T1", ((1, 2),)))
    assert await agent.drain_once() == 2
    assert await agent.drain_once() == 2
    assert pub.batches[-2:] == [[3, 4], [5, 6]]
    assert agent.state.resent == 6
    agent.confirm(Ack("T1", ((3, 6),)))
    assert box.pending() == 0
    assert agent.unconfirmed == 0


async def test_resend_waits_grow_while_nothing_is_confirmed(tmp_path: Path) -> None:
    box, _pub, agent = _agent(
        tmp_path, 1, confirm_timeout=0.05, confirm_timeout_cap=10, batch_size=1
    )
    sends: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    while len(sends) < 4 and loop.time() - start < 5:
        if await agent.drain_once():
            sends.append(loop.time() - start)
        await asyncio.sleep(0.005)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert len(sends) == 4, sends
    # the n-th resend waits in [t*2^n / 2, t*2^n]: 0.05, then [0.05, 0.1], [0.1, 0.2]
    assert gaps[0] >= 0.05
    assert gaps[2] >= 0.1
    assert gaps[2] > gaps[0]
    assert box.pending() == 1


async def test_at_most_max_unconfirmed_events_are_out(tmp_path: Path) -> None:
    _box, pub, agent = _agent(tmp_path, 10, confirm_timeout=60, max_unconfirmed=5)
    sent = [await agent.drain_once() for _ in range(4)]
    assert sent == [2, 2, 1, 0]
    agent.confirm(Ack("T1", ((1, 4),)))
    assert await agent.drain_once() == 2
    assert pub.batches[-1] == [6, 7]


async def test_a_failed_send_leaves_new_events_new(tmp_path: Path) -> None:
    _box, pub, agent = _agent(tmp_path, 2, confirm_timeout=60)
    pub.fail = True
    try:
        await agent.drain_once()
    except PublishError:
        pass
    else:
        raise AssertionError("the publisher's error must reach the loop")
    assert agent.unconfirmed == 0
    pub.fail = False
    assert await agent.drain_once() == 2
    assert agent.state.resent == 0


async def test_after_a_restart_everything_unconfirmed_is_sent_again(tmp_path: Path) -> None:
    box, _pub, agent = _agent(tmp_path, 3, confirm_timeout=60)
    await agent.drain_once()
    await agent.drain_once()
    agent.confirm(Ack("T1", ((2, 2),)))
    box.close()
    box2 = Outbox(tmp_path / "o.db", "T1", MID)
    pub2 = ScriptedPublisher()
    again = TelemetryAgent(box2, pub2, heartbeat_interval=None, batch_size=10)
    assert await again.drain_once() == 2
    assert pub2.batches == [[1, 3]]
