"""Personal data never reaches a log or a repr in clear; sealed values need the right key."""

from __future__ import annotations

import base64
import logging
import os
from datetime import date

import pytest
import structlog

from posguard.common.errors import ConfigError
from posguard.common.logging import configure_logging
from posguard.merchant.onboarding.application import Application
from posguard.merchant.onboarding.check import check_application
from posguard.merchant.onboarding.privacy import MerchantSettings, Sealer, SealError

ID_NUMBER = "11010519491231002X"
ACCOUNT = "6222021234567890125"
NAME = "王小明"


def _app() -> Application:
    return Application.model_validate(
        {
            "merchant_id": "M9",
            "merchant_type": "individual",
            "documents": {
                "business_licence": {"number": "91350100M000100Y43", "name": "小明便利店"},
                "legal_person_id": {"number": ID_NUMBER, "name": NAME, "expires": "2020-01-01"},
                "bank_account_proof": {"number": ACCOUNT, "name": "someone else"},
            },
        }
    )


def test_checking_an_application_logs_no_personal_data(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(level="DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        app = _app()
        report = check_application(app, today=date(2026, 11, 25))
        structlog.get_logger("test").info("application", app=app, report=report)
        logging.getLogger("test").info("repr %r / str %s", app, app)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert "onboarding_checked" in logged  # the capture really saw our log line
    assert "M9" in logged
    for secret in (ID_NUMBER, ID_NUMBER[:17], "19491231", ACCOUNT, ACCOUNT[:12], NAME):
        assert secret not in logged, secret
    assert "110105********002X" in logged  # the report itself carries the masked form only


def test_repr_and_dump_of_an_application_hide_personal_values() -> None:
    app = _app()
    text = repr(app) + str(app.model_dump()) + app.model_dump_json()
    for secret in (ID_NUMBER, ACCOUNT, NAME):
        assert secret not in text


def test_sealed_value_round_trips_and_is_bound_to_key_and_purpose() -> None:
    key = os.urandom(32)
    settings = MerchantSettings(data_key=base64.b64encode(key).decode())
    sealer = Sealer.from_settings(settings)
    token = sealer.seal(ID_NUMBER, purpose="legal_person_id")
    assert ID_NUMBER not in token
    assert token.startswith("pgm1:")
    assert sealer.seal(ID_NUMBER, purpose="legal_person_id") != token  # fresh nonce
    assert sealer.open(token, purpose="legal_person_id") == ID_NUMBER
    with pytest.raises(SealError):
        sealer.open(token, purpose="bank_account")
    with pytest.raises(SealError):
        Sealer(os.urandom(32)).open(token, purpose="legal_person_id")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(SealError):
        sealer.open(tampered, purpose="legal_person_id")


def test_missing_or_bad_key_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="POSGUARD_MERCHANT_DATA_KEY"):
        Sealer.from_settings(MerchantSettings(data_key=None))
    with pytest.raises(ConfigError, match="32 bytes"):
        Sealer.from_settings(MerchantSettings(data_key=base64.b64encode(b"short").decode()))


def test_sealed_application_keeps_nothing_readable_and_opens_back() -> None:
    from posguard.merchant.onboarding.sealed import (
        SealedApplication,
        open_application,
        seal_application,
    )

    sealer = Sealer(os.urandom(32))
    app = _app()
    stored = seal_application(app, sealer).model_dump_json()
    for secret in (ID_NUMBER, ID_NUMBER[6:14], ACCOUNT, ACCOUNT[:10], NAME):
        assert secret not in stored
    assert "110105********002X" in stored
    assert "王**" in stored
    back = open_application(SealedApplication.model_validate_json(stored), sealer)
    person = back.documents["legal_person_id"]
    assert person.number is not None
    assert person.number.get_secret_value() == ID_NUMBER
    assert person.name is not None
    assert person.name.get_secret_value() == NAME
    assert back.documents["business_licence"].number is not None
    # a token moved to another field does not open
    raw = SealedApplication.model_validate_json(stored)
    moved = raw.documents["legal_person_id"].model_copy(
        update={"number_sealed": raw.documents["bank_account_proof"].number_sealed}
    )
    swapped = raw.model_copy(update={"documents": {**raw.documents, "legal_person_id": moved}})
    with pytest.raises(SealError):
        open_application(swapped, sealer)
