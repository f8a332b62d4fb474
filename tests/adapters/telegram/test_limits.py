"""The Telegram limits the adapter declares, and their use by `engage consultation validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.limits import TELEGRAM_LIMITS
from bot.cli import main
from consultations.spec import ChannelLimits
from tests.helpers import spec_data


def test_telegram_limits_are_the_bot_api_limits() -> None:
    expected = ChannelLimits(
        "telegram",
        text_max=4096,
        poll_question_max=300,
        poll_options_min=2,
        poll_options_max=12,
        poll_option_max=100,
    )
    assert expected == TELEGRAM_LIMITS


def test_the_adapter_declares_its_limits() -> None:
    assert TelegramAdapter.capabilities.limits == TELEGRAM_LIMITS


def test_validate_checks_a_telegram_spec_against_the_bot_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    data = spec_data(channels=["web", "telegram"])
    data["items"][0]["options"] = [f"Option {n}" for n in range(13)]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code = main(["consultation", "validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: items[0].options: 13 options; telegram allows at most 12 in a poll" in err
