"""Fixtures for host tests, reusable by other areas: a seeded host on an ephemeral port, a
signed-on client, and the seed's cards by role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

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
