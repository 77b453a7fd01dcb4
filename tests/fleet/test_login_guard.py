"""Password guessing on the API token route is slowed: five wrong passwords lock the pair out,
the right password too, until the lockout ends; other users and addresses are untouched."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx

from posguard.common.testing import free_port
from posguard.fleet.clock import FakeClock

from .conftest import T0, Api, FleetDB


def _token(api: Api, username: str, password: str) -> int:
    r = api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code


def test_five_wrong_passwords_lock_the_user_out_for_a_while(api: Api) -> None:
    for _ in range(5):
        assert _token(api, "ops", "guess") == 401
    locked = api.client.post(
        "/api/v1/auth/token", data={"username": "ops", "password": "ops-password"}
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert _token(api, "admin", "admin-password") == 200  # another user is not affected
    assert _token(api, "nobody", "x") == 401  # unknown users are counted the same way
    api.client.app.state.fleet.logins.clock.advance(301)
    assert _token(api, "ops", "ops-password") == 200


def test_a_success_forgets_earlier_failures(api: Api) -> None:
    for _ in range(4):
        assert _token(api, "m01", "guess") == 401
    assert _token(api, "m01", "m01-password") == 200
    for _ in range(4):
        assert _token(api, "m01", "guess") == 401
    assert _token(api, "m01", "m01-password") == 200


def _served(db: FleetDB, clock: FakeClock, trusted: list[str]) -> Iterator[str]:
    """The fleet app behind a real uvicorn on 127.0.0.1 with ``trusted_proxies``, as served."""
    import threading

    import uvicorn

    from posguard.fleet.api.app import create_app
    from posguard.fleet.config import FleetSettings
    from posguard.fleet.repo.users import Role, create_user

    settings = FleetSettings(
        database_url=db.url,
        jwt_secret="test-secret-" + "x" * 32,
        diagnosis_in_process=False,
        trusted_proxies=trusted,
    )
    with db.sessions.begin() as s:
        create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            **settings.uvicorn_proxy_options(),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _login(url: str, password: str, forwarded_for: str) -> int:
    r = httpx.post(
        f"{url}/api/v1/auth/token",
        data={"username": "ops", "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return r.status_code


def test_a_rotating_forwarded_for_header_does_not_escape_the_lockout(
    sqlite_db: FleetDB, clock: FakeClock
) -> None:
    """OWASP ASVS 2.2.1 (anti-automation): the throttle is keyed on the real client. With no
    trusted proxy (the default), X-Forwarded-For from a loopback peer is not believed."""
    for url in _served(sqlite_db, clock, trusted=[]):
        for i in range(5):
            assert _login(url, "guess", f"203.0.113.{i}") == 401
        assert _login(url, "ops-password", "198.51.100.7") == 429  # still this client


def test_behind_a_trusted_proxy_each_forwarded_client_is_its_own(
    sqlite_db: FleetDB, clock: FakeClock
) -> None:
    for url in _served(sqlite_db, clock, trusted=["127.0.0.1"]):
        for i in range(5):
            assert _login(url, "guess", f"203.0.113.{i}") == 401
        assert _login(url, "ops-password", "198.51.100.7") == 200  # another client behind it
        for _ in range(5):
            assert _login(url, "guess", "203.0.113.9") == 401
        assert _login(url, "ops-password", "203.0.113.9") == 429  # that one client is locked


def test_an_unknown_user_takes_as_long_as_a_wrong_password(sqlite_db: FleetDB) -> None:
    """Timing must not tell which usernames exist: both verify an argon2id hash (the real
    parameters here, not the tests' cheap ones)."""
    from argon2 import PasswordHasher

    from posguard.fleet.repo.users import Role, authenticate, create_user
    from posguard.fleet.security import use_password_hasher

    previous = use_password_hasher(PasswordHasher())
    try:
        with sqlite_db.sessions.begin() as s:
            create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)

        def timed(username: str) -> float:
            with sqlite_db.sessions() as s:
                start = time.perf_counter()
                assert authenticate(s, username=username, password="wrong-password") is None
                return time.perf_counter() - start

        timed("nobody")  # the dummy hash is made once, on first use
        known = sorted(timed("ops") for _ in range(3))[1]
        unknown = sorted(timed("nobody") for _ in range(3))[1]
    finally:
        use_password_hasher(previous)
    assert unknown > known / 3, (known, unknown)  # was ~1/60 before the dummy hash
