"""The masking step holds for structlog and for stdlib logging alike."""

from __future__ import annotations

import logging

import pytest
import structlog

from posguard.common.logging import configure_logging

PAN = "6212345678901232"  # Luhn-valid UnionPay test number


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    configure_logging(level="DEBUG", json=True)
    yield capsys
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_structlog_masks_pan_and_drops_secrets(logs: pytest.CaptureFixture[str]) -> None:
    log = structlog.get_logger("t")
    log.info(
        "sale", pan=PAN, track2=f"{PAN}=2512101", pin_block="0412AC89ABCDEF67", msg=f"pan {PAN}"
    )
    err = logs.readouterr().err
    assert PAN not in err
    assert "621234******1232" in err
    assert "2512101" not in err
    assert "0412AC89ABCDEF67" not in err
    assert err.count("[redacted]") == 2


def test_stdlib_logging_goes_through_the_same_mask(logs: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("legacy").warning("declined card %s", PAN)
    err = logs.readouterr().err
    assert PAN not in err
    assert "621234******1232" in err


def test_non_card_numbers_stay_readable(logs: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger().info("order", phone="13800138000", amount=123456789012)
    err = logs.readouterr().err
    assert "13800138000" in err
    assert "123456789012" in err
