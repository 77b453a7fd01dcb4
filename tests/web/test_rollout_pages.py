"""A software rollout in the dashboard, over HTTP with the real app and SQLite: the bulk page
offers ``update`` with the package chosen from the uploaded ones; the confirmation names the
version and skips terminals of other models; a bad-firmware incident (``SW.UPDATE_FAILED``) on
those terminals shows the rollout with "stop the rollout" as a button, which pauses it."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import BulkAction, Command, Incident
from posguard.fleet.web import option_cache

from .conftest import PASSWORD, T0, Seeded
from .test_pages import login


def _package(version: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = f"{version}\n".encode()
        info = tarfile.TarInfo("VERSION")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def client(seeded: Seeded, tmp_path: Path) -> Iterator[TestClient]:
    option_cache.forget()
    settings = seeded.settings.model_copy(
        update={"diagnosis_in_process": False, "package_dir": tmp_path / "packages"}
    )
    with TestClient(
        create_app(settings), base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as c:
        yield c


def _upload(client: TestClient) -> str:
    r = client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
    token = r.json()["access_token"]
    up = client.post(
        "/api/v1/packages",
        files={"file": ("px5-2.2.0.tar.gz", _package("2.2.0"), "application/gzip")},
        data={"version": "2.2.0", "models": "PX-5"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert up.status_code == 201, up.text
    return str(up.json()["sha256"])


def test_rollout_from_the_dashboard_and_the_incidents_pause_button(
    client: TestClient, seeded: Seeded
) -> None:
    sha = _upload(client)
    csrf = login(client, "ops")
    chosen = client.get("/ui/bulk/new?q=T").text
    assert 'id="bulk-package"' in chosen
    assert f'value="{sha}" data-version="2.2.0"' in chosen
    form = {"csrf": csrf, "name": "update", "q": "T", "first_pct": "30", "max_failure_pct": "20"}
    missing = client.post("/ui/bulk", data=form)
    assert missing.status_code == 422
    assert "choose a firmware package" in missing.text
    confirm = client.post("/ui/bulk", data={**form, "package": sha})
    assert confirm.status_code == 200, confirm.text
    assert "Firmware 2.2.0 (models: PX-5" in confirm.text
    assert re.search(r'id="bulk-skipped"[^>]*>Not sent to 2 ', confirm.text)  # the two Z9
    sent = client.post(
        "/ui/bulk", data={**form, "package": sha, "confirm": "yes"}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    bulk_id = int(sent.headers["location"].rsplit("/", 1)[1])

    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        (first,) = s.scalars(select(Command).where(Command.bulk_id == bulk_id)).all()
        assert first.name == "update"
        assert first.args["sha256"] == sha
        inc = Incident(
            rule_id="bad-firmware-rollout",
            scope="model:PX-5",
            open_key="bad-firmware-rollout|model:PX-5",
            code="SW.UPDATE_FAILED",
            severity="major",
            status="open",
            explanation={"reason": "test", "members": [first.terminal_id]},
            opened_at=T0,
        )
        s.add(inc)
        s.flush()
        incident_id = inc.id
    page = client.get(f"/ui/incidents/{incident_id}").text
    assert 'id="incident-rollout"' in page
    assert f"Rollout #{bulk_id}: version 2.2.0" in page
    paused = client.post(
        f"/ui/bulk/{bulk_id}/pause",
        data={"csrf": csrf, "back": f"/ui/incidents/{incident_id}"},
        follow_redirects=False,
    )
    assert paused.status_code == 303
    assert paused.headers["location"] == f"/ui/incidents/{incident_id}"
    with make_sessionmaker(engine)() as s:
        bulk = s.get(BulkAction, bulk_id)
        assert bulk is not None
        assert bulk.state == "paused"
    page = client.get(f"/ui/incidents/{incident_id}").text
    assert f'id="rollout-pause-{bulk_id}"' not in page
    assert "paused" in page
    assert client.post(f"/ui/bulk/{bulk_id}/release", data={"csrf": csrf}).status_code == 409
    engine.dispose()
    # a merchant never sees the rollout section
    login(client, "shop1")
    assert 'id="incident-rollout"' not in client.get(f"/ui/incidents/{incident_id}").text


def test_packages_page_upload_by_admin_only(client: TestClient) -> None:
    body = _package("3.0.0")
    csrf = login(client, "ops")
    listed = client.get("/ui/packages").text
    assert 'id="package-upload"' not in listed  # ops see the list, not the form
    r = client.post(
        "/ui/packages",
        data={"csrf": csrf, "version": "3.0.0", "models": "PX-5"},
        files={"file": ("fw.tar.gz", body, "application/gzip")},
    )
    assert r.status_code == 403
    csrf = login(client, "admin")
    assert 'id="package-upload"' in client.get("/ui/packages").text
    bad = client.post(
        "/ui/packages",
        data={"csrf": csrf, "version": "3.0.1", "models": "PX-5"},
        files={"file": ("fw.tar.gz", body, "application/gzip")},
    )
    assert bad.status_code == 422
    assert "VERSION file says" in bad.text
    ok = client.post(
        "/ui/packages",
        data={"csrf": csrf, "version": "3.0.0", "models": "PX-5, Z9"},
        files={"file": ("fw.tar.gz", body, "application/gzip")},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    page = client.get(ok.headers["location"]).text
    assert 'id="package-done"' in page
    assert re.search(r"<td>3\.0\.0</td><td>PX-5, Z9</td>", page)
    assert 'href="/ui/bulk/new?model=Z9"' in page
    login(client, "shop1")
    assert client.get("/ui/packages").status_code == 403
