"""JWT secret rotation: several verification keys by key id, one signing key, so a change-over
logs nobody out; a key taken out of the set stops its tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from posguard.common.errors import ConfigError
from posguard.fleet.config import FleetSettings
from posguard.fleet.jwt_keys import JwtKeys
from posguard.fleet.repo.users import Role, create_user

from .conftest import T0, FleetDB

OLD, NEW = "o" * 40, "n" * 40


@contextmanager
def _app(db: FleetDB, keys: dict[str, str], signing: str) -> Iterator[TestClient]:
    from posguard.fleet.api.app import create_app

    settings = FleetSettings(
        database_url=db.url,
        jwt_keys=keys,  # type: ignore[arg-type]
        jwt_signing_key_id=signing,
        diagnosis_in_process=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _login(client: TestClient) -> str:
    r = client.post("/api/v1/auth/token", data={"username": "ops", "password": "ops-password"})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_rotation_with_two_keys_logs_nobody_out(sqlite_db: FleetDB) -> None:
    with sqlite_db.sessions.begin() as s:
        create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)
    both = {"2026-11": OLD, "2026-12": NEW}
    with _app(sqlite_db, both, "2026-11") as before:
        old_token = _login(before)
        assert jwt.get_unverified_header(old_token)["kid"] == "2026-11"
    with _app(sqlite_db, both, "2026-12") as during:
        assert _me(during, old_token) == 200  # signed with the old key, still valid
        new_token = _login(during)
        assert jwt.get_unverified_header(new_token)["kid"] == "2026-12"
    with _app(sqlite_db, {"2026-12": NEW}, "2026-12") as after:
        assert _me(after, new_token) == 200
        assert _me(after, old_token) == 401  # the old key is gone: so are its tokens
        forged: Any = jwt.encode(
            {"sub": "ops", "role": "admin", "exp": 4_000_000_000},
            NEW,
            algorithm="HS256",
            headers={"kid": "nope"},
        )
        assert _me(after, forged) == 401  # an unknown key id is refused outright


def test_key_configuration_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="name the signing one"):
        JwtKeys.from_settings(FleetSettings(jwt_keys={"a": OLD, "b": NEW}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not among the keys"):
        JwtKeys.from_settings(
            FleetSettings(jwt_keys={"a": OLD}, jwt_signing_key_id="b")  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigError, match="at least 32"):
        JwtKeys.from_settings(FleetSettings(jwt_keys={"a": "short"}))  # type: ignore[arg-type]
    keys = JwtKeys.from_settings(FleetSettings(jwt_secret=OLD))  # type: ignore[arg-type]
    assert (keys.configured, keys.signing_secret) == (True, OLD)
    assert not JwtKeys.from_settings(FleetSettings()).configured


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSGUARD_FLEET_JWT_KEYS", f'{{"k1": "{OLD}", "k2": "{NEW}"}}')
    monkeypatch.setenv("POSGUARD_FLEET_JWT_SIGNING_KEY_ID", "k2")
    keys = JwtKeys.from_settings(FleetSettings())
    assert keys.signing_kid == "k2"
    assert [k for k, _ in keys.verification()] == ["k2", "k1"]
