"""Fixtures for host tests, reusable by other areas: a seeded host on an ephemeral port, a
signed-on client, the seed's cards by role, and a ``posguard host serve`` process under a
pipelined load of sales (for the kill -9 and SIGTERM tests)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from posguard.common.testing import line_containing
from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData, default_seed
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host


@dataclass(frozen=True)
class Cards:
    """PANs of the default seed by role (see ``posguard.host.seed.default_seed``)."""

    good: str
    low_balance: str
    expired: str
    lost: str
    stolen: str
    restricted: str
    blocked: str
    one_pin_try: str
    visa: str
    mastercard: str
    issuer_down_91: str
    issuer_down_98: str
    online_pin: str


def cards_of(seed: SeedData) -> Cards:
    c = seed.cards
    return Cards(
        good=c[0].pan,
        low_balance=c[1].pan,
        expired=c[2].pan,
        lost=c[3].pan,
        stolen=c[4].pan,
        restricted=c[5].pan,
        blocked=c[6].pan,
        one_pin_try=c[7].pan,
        visa=c[8].pan,
        mastercard=c[10].pan,
        issuer_down_91=c[12].pan,
        issuer_down_98=c[13].pan,
        online_pin=c[14].pan,
    )


@pytest.fixture
def seed() -> SeedData:
    return default_seed()


@pytest.fixture
def cards(seed: SeedData) -> Cards:
    return cards_of(seed)


@pytest.fixture(params=["iso87ascii", "unionpay"])
def spec(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def host(seed: SeedData) -> AsyncIterator[tuple[HostServer, int, Ledger]]:
    async with running_host(seed) as running:
        yield running


@pytest.fixture
async def client(host: tuple[HostServer, int, Ledger]) -> AsyncIterator[HostClient]:
    """A client of terminal 10000001, connected and signed on."""
    async with HostClient(host[1]) as c:
        assert (await c.sign_on())["39"] == "00"
        yield c


PER_TERMINAL = 40  # sales each terminal of a pipelined load sends at once

Answers = list[tuple[str, str]]  # (STAN, field 39) in the order read


async def _pipeline(c: HostClient, pan: str, got_some: asyncio.Event) -> Answers:
    """Send every sale at once, then read answers until the host closes the connection."""
    for _ in range(PER_TERMINAL):
        await c.send_raw(c.pack(c.sale_msg(pan, 100)))
    answers: Answers = []
    while True:
        try:
            msg = await c.receive(timeout=15)
        except Exception:  # closed by the stopping host
            return answers
        answers.append((str(msg["11"]), str(msg["39"])))
        if len(answers) >= 3:
            got_some.set()


@dataclass
class HostProcess:
    """``posguard host serve --port 0`` in its own process; ``port`` read from its first line."""

    proc: asyncio.subprocess.Process
    port: int
    clients: list[HostClient] = field(default_factory=list)
    _runs: list[asyncio.Task[Answers]] = field(default_factory=list)

    async def pipeline_sales(self, seed: SeedData, terminals: int, pan: str) -> None:
        """Terminals ``5000000``.. (``terminals`` of them, in ``seed``) connect and sign on,
        each sends :data:`PER_TERMINAL` sales of ``pan`` at once; returns when every one of
        them has had a few answers, so the host is stopped in the middle of the load."""
        self.clients = [
            HostClient(self.port, tid=f"5{i:07d}", seed=seed, timeout=15) for i in range(terminals)
        ]
        for c in self.clients:
            await c.connect()
            assert (await c.sign_on())["39"] == "00"
        events = [asyncio.Event() for _ in self.clients]
        self._runs = [
            asyncio.create_task(_pipeline(c, pan, e))
            for c, e in zip(self.clients, events, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 30)

    async def answers(self) -> list[Answers]:
        """Per client, what it was answered before the host closed its connection."""
        return await asyncio.wait_for(asyncio.gather(*self._runs), 30)


SpawnHost = Callable[..., Awaitable[HostProcess]]


@pytest.fixture
async def spawn_host() -> AsyncIterator[SpawnHost]:
    """``await spawn_host("--db", path, ...)`` starts ``posguard host serve --port 0`` with
    those options and waits for its "host listening on" line; at teardown the clients are
    closed and a process still running is killed."""
    spawned: list[HostProcess] = []

    async def spawn(*args: str) -> HostProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "posguard.cli", "host", "serve", "--port", "0", *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            line = await line_containing(proc.stdout, "host listening on", 30)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        spawned.append(HostProcess(proc, int(line.split()[3].rsplit(":", 1)[1])))
        return spawned[-1]

    yield spawn
    for host in spawned:
        for c in host.clients:
            await c.close()
        if host.proc.returncode is None:
            host.proc.kill()
            await host.proc.wait()
