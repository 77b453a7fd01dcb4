"""Password guessing on the API token route is slowed: five wrong passwords lock the pair out,
the right password too, until the lockout ends; other users and addresses are untouched."""

from __future__ import annotations

from .conftest import Api


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
