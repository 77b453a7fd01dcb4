"""PostgreSQL sessions of the fleet run in UTC whatever the server's own ``TimeZone``: time
stamps come back as ``datetime.UTC`` (passed through without a conversion each) and the same
instant as was written; a URL that sets its own ``options`` keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text

from posguard.fleet.db.engine import make_engine
from posguard.fleet.db.models import UtcDateTime


def test_session_zone_is_utc_and_values_are_utc(postgres_url: str) -> None:
    eng = make_engine(postgres_url)
    try:
        with eng.connect() as c:
            assert c.execute(text("SHOW TimeZone")).scalar() == "UTC"
            shanghai = datetime(2026, 12, 2, 18, 30, tzinfo=timezone(timedelta(hours=8)))
            got = c.execute(
                text("SELECT CAST(:t AS timestamptz)").columns(), {"t": shanghai}
            ).scalar()
            assert got is not None
            assert got.tzinfo is UTC
            assert got == shanghai
            assert got.hour == 10
    finally:
        eng.dispose()


def test_url_options_are_kept(postgres_url: str) -> None:
    sep = "&" if "?" in postgres_url else "?"
    eng = make_engine(f"{postgres_url}{sep}options=-c%20TimeZone%3DAsia/Shanghai")
    try:
        with eng.connect() as c:
            assert c.execute(text("SHOW TimeZone")).scalar() == "Asia/Shanghai"
            value = c.execute(text("SELECT TIMESTAMPTZ '2026-12-02 10:30:00+00'")).scalar()
        # a zone other than UTC is still converted to UTC on the way out
        out = UtcDateTime().process_result_value(value, eng.dialect)
        assert out is not None
        assert out.tzinfo is UTC
        assert out.hour == 10
    finally:
        eng.dispose()
