"""Merchants in the administration pages over HTTP: created and renamed with names in Chinese
and English, shown in the reader's language on the list, the terminal page and the inventory;
contacts added and deleted; bad input refused with one line in the reader's language and
nothing written."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Merchant, MerchantContact

from .conftest import Seeded
from .test_pages import login

NEW = {"merchant_id": "M05", "name_zh": "静安咖啡馆", "name_en": "Jing'an Cafe"}


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        yield c


def _rows(seeded: Seeded, model: type[Merchant] | type[MerchantContact]) -> int:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        n = s.scalar(select(func.count()).select_from(model))
    engine.dispose()
    return int(n or 0)


def _error(page: str) -> str:
    found = re.search(r'<p class="error" role="alert" id="merchant-error">([^<]*)</p>', page)
    assert found is not None, page
    return html.unescape(found[1])


def test_names_in_both_languages_are_shown_in_the_readers(
    client: TestClient, seeded: Seeded
) -> None:
    login(client, "ops")
    assert client.get("/ui/admin/merchants").status_code == 403
    client.cookies.clear()
    csrf = login(client, "admin")
    client.post("/ui/lang", data={"csrf": csrf, "lang": "en"})
    r = client.post("/ui/admin/merchants", data={"csrf": csrf, **NEW}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/admin/merchants/M05?done=created"
    reg = {"id": "T5001", "merchant_id": "M05", "model": "PX-5", "acquirer_host": "acq-east"}
    assert (
        client.post(
            "/ui/admin/terminals/new", data={"csrf": csrf, **reg, "area": "jingan"}
        ).status_code
        == 200
    )
    page = client.get("/ui/admin/merchants").text
    assert re.search(r'data-merchant="M05"><td>M05</td><td>Jing&#39;an Cafe</td>', page)
    assert "Jing&#39;an Cafe" in client.get("/ui/terminals/T5001").text
    assert "Jing&#39;an Cafe" in client.get("/ui/inventory?q=T5001").text
    client.post("/ui/lang", data={"csrf": csrf, "lang": "zh-CN"})
    assert "静安咖啡馆" in client.get("/ui/terminals/T5001").text
    assert "静安咖啡馆" in client.get("/ui/inventory?q=T5001").text
    assert "T5001" in client.get("/ui/inventory?q=Jing'an").text  # either name finds it

    # renamed: English only; the Chinese reader then sees the English name
    r = client.post(
        "/ui/admin/merchants/M05",
        data={"csrf": csrf, "name_zh": "", "name_en": "Jingan Coffee"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Jingan Coffee" in client.get("/ui/terminals/T5001").text
    # older readers' name follows
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        m = s.get(Merchant, "M05")
        assert m is not None
        assert (m.name, m.name_zh, m.name_en) == ("Jingan Coffee", None, "Jingan Coffee")
    engine.dispose()


@pytest.mark.parametrize(
    ("change", "status", "zh", "en"),
    [
        ({"merchant_id": "M 5"}, 422, "商户号：只能用", "merchant id: 1-64 letters"),
        ({"name_zh": "", "name_en": " "}, 422, "请填写商户的中文或英文名称", "give the merchant"),
        ({"merchant_id": "M01"}, 409, "商户 M01 已存在", "merchant M01 already exists"),
        ({"name_en": "x" * 201}, 422, "英文名称：不能超过 200 个字符", "English name: at most"),
    ],
    ids=["bad-id", "no-name", "duplicate", "long-name"],
)
def test_merchant_refusals_are_one_line_in_the_readers_language(
    client: TestClient, seeded: Seeded, change: dict[str, str], status: int, zh: str, en: str
) -> None:
    csrf = login(client, "admin")
    before = _rows(seeded, Merchant)
    for lang, text in (("zh-CN", zh), ("en", en)):
        client.post("/ui/lang", data={"csrf": csrf, "lang": lang})
        r = client.post("/ui/admin/merchants", data={"csrf": csrf, **NEW, **change})
        assert r.status_code == status
        assert _error(r.text).startswith(text)
    assert _rows(seeded, Merchant) == before


def test_a_refused_rename_keeps_what_was_typed_and_the_old_name(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = login(client, "admin")
    client.post("/ui/lang", data={"csrf": csrf, "lang": "en"})
    before = client.get("/ui/admin/merchants/M01").text
    typed = {"name_zh": "新名字", "name_en": "y" * 201}
    r = client.post("/ui/admin/merchants/M01", data={"csrf": csrf, **typed})
    assert r.status_code == 422
    assert _error(r.text).startswith("English name: at most")
    assert 'value="新名字"' in r.text
    assert f'value="{"y" * 201}"' in r.text
    assert client.get("/ui/admin/merchants/M01").text == before  # nothing written


def test_contacts_are_checked_added_and_deleted(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, "admin")
    client.post("/ui/lang", data={"csrf": csrf, "lang": "zh-CN"})
    url = "/ui/admin/merchants/M01/contacts"
    base = {"csrf": csrf, "person": "王经理", "lang": "en"}
    refusals = [
        ({"channel": "mail", "address": "not-an-address"}, "邮箱地址 'not-an-address' 格式不对"),
        ({"phone": "call me"}, "电话：只能用数字、空格和 -"),
        ({}, "请填写通知渠道或电话（或两者）"),
        ({"address": "a@b.example"}, "填写了地址，但没有选择通知渠道"),
        ({"channel": "Bad Channel!"}, "渠道 'Bad Channel!' 不是渠道名"),
    ]
    for fields, text in refusals:
        r = client.post(url, data={**base, **fields})
        assert r.status_code == 422
        assert _error(r.text).startswith(text)
        assert 'value="王经理"' in r.text  # what was typed is kept
    assert _rows(seeded, MerchantContact) == 0
    r = client.post(
        url,
        data={**base, "channel": "mail", "address": "owner@m01.example", "phone": "+86 21 5555"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/ui/admin/merchants/M01").text
    row = re.search(r'<tr data-contact="(\d+)">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "owner@m01.example" in row[2]
    assert "+86 21 5555" in row[2]
    assert "英文" in row[2]
    r = client.post(f"{url}/{row[1]}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert _rows(seeded, MerchantContact) == 0
    assert client.post(f"{url}/{row[1]}/delete", data={"csrf": csrf}).status_code == 404


def test_the_api_keeps_names_and_contacts_with_the_same_rules(client: TestClient) -> None:
    from .conftest import PASSWORD

    def token(user: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    admin, ops = token("admin"), token("ops")
    names = {"name_zh": "徐汇书店", "name_en": "Xuhui Books"}
    assert client.put("/api/v1/merchants/M07", json=names, headers=ops).status_code == 403
    r = client.put("/api/v1/merchants/M07", json=names, headers=admin)
    assert r.status_code == 201
    assert r.json()["name"] == "徐汇书店"
    r = client.put("/api/v1/merchants/M07", json={"name_en": "Xuhui Books"}, headers=admin)
    assert r.status_code == 200
    assert (r.json()["name_zh"], r.json()["name"]) == (None, "Xuhui Books")
    bad = client.put("/api/v1/merchants/M07", json={}, headers=admin)
    assert bad.status_code == 422
    assert "give the merchant's name" in bad.text
    url = "/api/v1/merchants/M07/contacts"
    refused = client.post(url, json={"channel": "mail", "address": "x"}, headers=admin)
    assert refused.status_code == 422
    assert "e-mail address 'x' is not valid" in refused.text
    added = client.post(
        url, json={"channel": "mail", "address": "boss@xuhui.example", "lang": "en"}, headers=admin
    )
    assert added.status_code == 201
    got = client.get("/api/v1/merchants/M07", headers=admin).json()
    assert [(c["channel"], c["address"], c["lang"]) for c in got["contacts"]] == [
        ("mail", "boss@xuhui.example", "en")
    ]
    cid = added.json()["id"]
    assert client.delete(f"{url}/{cid}", headers=admin).status_code == 204
    assert client.delete(f"{url}/{cid}", headers=admin).status_code == 404
    assert client.get("/api/v1/merchants/M99", headers=admin).status_code == 404
