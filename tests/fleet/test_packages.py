"""Firmware packages over the real API and SQLite: an admin uploads the .tar.gz that
``terminal update apply`` takes; what is not one is refused naming why, and nothing is left
behind; a terminal downloads only with its own credential and only a package for its model."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posguard.fleet.clock import FakeClock

from .conftest import Api, FleetDB, make_api


def make_package(version: str, *, healthcheck: str = "#!/bin/sh\nexit 0\n") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text, mode in (
            ("VERSION", version + "\n", 0o644),
            ("healthcheck", healthcheck, 0o755),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def api(fleet_db: FleetDB, clock: FakeClock, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(
        fleet_db, clock, package_dir=tmp_path / "packages", package_max_bytes=64 * 1024
    )


def upload(
    api: Api,
    body: bytes,
    *,
    version: str = "2.2.0",
    user: str = "admin",
    models: str = "PX-5",
    name: str = "fw.tar.gz",
) -> Any:
    return api.client.post(
        "/api/v1/packages",
        files={"file": (name, body, "application/gzip")},
        data={"version": version, "models": models},
        headers=api.headers[user],
    )


def test_upload_list_download(api: Api, tmp_path: Path) -> None:
    body = make_package("2.2.0")
    r = upload(api, body)
    assert r.status_code == 201, r.text
    sha = hashlib.sha256(body).hexdigest()
    assert r.json()["sha256"] == sha
    assert r.json()["size"] == len(body)
    assert (tmp_path / "packages" / f"{sha}.tar.gz").read_bytes() == body
    listed = api.client.get("/api/v1/packages", headers=api.headers["ops"]).json()
    assert [(p["version"], p["models"]) for p in listed] == [("2.2.0", ["PX-5"])]
    got = api.client.get(f"/api/v1/packages/{sha}/download", headers=api.as_terminal("T1"))
    assert got.status_code == 200
    assert got.content == body
    # the same bytes again: the same package, not a second one
    assert upload(api, body).json()["sha256"] == sha
    assert len(api.client.get("/api/v1/packages", headers=api.headers["ops"]).json()) == 1


def test_only_an_admin_uploads(api: Api) -> None:
    assert upload(api, make_package("2.2.0"), user="ops").status_code == 403
    assert upload(api, make_package("2.2.0"), user="m01").status_code == 403


@pytest.mark.parametrize(
    ("body", "version", "says"),
    [
        (b"not a gzip at all", "2.2.0", "not a readable .tar.gz"),
        (make_package("2.2.0")[:-40], "2.2.0", "not a readable .tar.gz"),
        (make_package("2.3.0"), "2.2.0", "VERSION file says '2.3.0'"),
    ],
    ids=["garbage", "truncated", "version-mismatch"],
)
def test_a_bad_package_is_refused_and_nothing_is_kept(
    api: Api, tmp_path: Path, body: bytes, version: str, says: str
) -> None:
    r = upload(api, body, version=version)
    assert r.status_code == 422, r.text
    assert says in r.text
    assert list((tmp_path / "packages").iterdir()) == []
    assert api.client.get("/api/v1/packages", headers=api.headers["ops"]).json() == []


def test_no_version_file_and_unsafe_paths_are_refused(api: Api) -> None:
    for members, says in (
        ([("healthcheck", b"x")], "no VERSION"),
        ([("VERSION", b"1"), ("../evil", b"x")], "unsafe path"),
    ):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        r = upload(api, buf.getvalue(), version="1")
        assert r.status_code == 422, r.text
        assert says in r.text


def test_too_large_is_413(api: Api, tmp_path: Path) -> None:
    import os

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("VERSION", b"9"), ("blob", os.urandom(100 * 1024))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    r = upload(api, buf.getvalue(), version="9")
    assert r.status_code == 413, r.text
    assert list((tmp_path / "packages").iterdir()) == []


def test_download_needs_the_terminals_own_credential_and_model(api: Api) -> None:
    body = make_package("2.2.0")
    sha = upload(api, body).json()["sha256"]
    url = f"/api/v1/packages/{sha}/download"
    assert api.client.get(url).status_code == 401
    assert api.client.get(url, headers={"Authorization": "Bearer T1.wrong"}).status_code == 401
    assert api.client.get(url, headers=api.headers["admin"]).status_code == 401  # a user token
    assert api.client.get(url, headers=api.as_terminal("T3")).status_code == 403  # model QX-9
    tampered = sha[:-1] + ("0" if sha[-1] != "0" else "1")
    assert (
        api.client.get(
            f"/api/v1/packages/{tampered}/download", headers=api.as_terminal("T1")
        ).status_code
        == 404
    )


def test_an_oversized_upload_is_refused_from_its_content_length(api: Api) -> None:
    """413 before the body is read: a declared length past the limit is enough."""
    body = b"--x\\r\\n" + b"0" * (200 * 1024)
    r = api.client.post(
        "/api/v1/packages",
        content=body,
        headers={**api.headers["admin"], "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 413, r.text


def test_a_form_without_the_file_is_refused(api: Api) -> None:
    r = api.client.post(
        "/api/v1/packages", data={"version": "1", "models": "PX-5"}, headers=api.headers["admin"]
    )
    assert r.status_code == 422, r.text
    assert "file" in r.text
