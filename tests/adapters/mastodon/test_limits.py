"""The instance's limits, read from /api/v2/instance, and the checks made before launch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from adapters.mastodon import limits
from adapters.mastodon.limits import DEFAULT_CONFIG, MASTODON_DEFAULT_LIMITS, InstanceConfig
from bot.cli import main
from consultations.spec import parse_spec
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.mastodon_server import InstanceLimits, MastodonServer
from tests.helpers import spec_data

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _forget_lookups() -> None:
    limits._looked_up.clear()


def test_parse_instance_reads_the_configuration() -> None:
    document = {
        "configuration": {
            "statuses": {"max_characters": 1000, "characters_reserved_per_url": 23},
            "polls": {
                "max_options": 8,
                "max_characters_per_option": 100,
                "min_expiration": 60,
                "max_expiration": 86_400,
            },
        }
    }
    assert limits.parse_instance(document) == InstanceConfig(1000, 23, 8, 100, 60, 86_400)


def test_parse_instance_keeps_defaults_for_what_is_missing_or_odd() -> None:
    document = {"configuration": {"statuses": {"max_characters": "lots"}, "polls": None}}
    assert limits.parse_instance(document) == DEFAULT_CONFIG
    assert limits.parse_instance({"max_toot_chars": 5000}).max_characters == 5000


def test_instance_limits_come_from_the_instance() -> None:
    configured = InstanceLimits(max_characters=400, max_options=6, max_characters_per_option=30)
    with MastodonServer(limits=configured) as server:
        found = limits.instance_limits(server.base_url, server.bot_token)
    assert (found.text_max, found.poll_options_max, found.poll_option_max) == (400, 6, 30)


def test_an_unreachable_instance_falls_back_to_the_defaults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        found = limits.instance_limits("http://127.0.0.1:9", "t")
    assert found == MASTODON_DEFAULT_LIMITS
    assert "could not read the limits" in caplog.text


def test_the_demo_poll_does_not_fit_a_stock_instance() -> None:
    spec = parse_spec(spec_data(channels=["mastodon"]))
    problems = limits.check_spec(spec, DEFAULT_CONFIG, now=NOW)
    assert [(p.path, p.message) for p in problems] == [
        ("items[0].options", "5 options; mastodon allows at most 4 in a poll")
    ]


def test_poll_expiry_must_fit_the_instance() -> None:
    config = InstanceConfig(max_options=5, max_expiration=7 * 86_400, min_expiration=3600)
    far = parse_spec(spec_data(channels=["mastodon"], closes_at="2026-12-15T09:00:00+00:00"))
    [problem] = limits.launch_problems(far, config, now=NOW)
    assert problem.path == "items[0]"
    assert "poll 'ease' would run 14.0 days" in problem.message
    assert "at most 7.0 days" in problem.message

    soon = parse_spec(spec_data(channels=["mastodon"], closes_at="2026-12-01T09:30:00+00:00"))
    [problem] = limits.launch_problems(soon, config, now=NOW)
    assert (problem.path, "at least 60 minutes" in problem.message) == ("items[0]", True)

    assert limits.poll_duration(far, config, NOW) == 14 * 86_400
    no_close = parse_spec(spec_data(channels=["mastodon"]))
    assert limits.poll_duration(no_close, config, NOW) == config.max_expiration
    assert limits.launch_problems(no_close, config, now=NOW) == []


def test_the_posts_as_launched_must_fit() -> None:
    config = InstanceConfig(max_characters=200, max_options=5)
    data = spec_data(channels=["mastodon"])
    data["consent"] = {"text": "We use your answers. " * 5}
    data["items"][1]["text"] = "x" * 190  # fits alone, not with "Reply to this post..."
    problems = limits.launch_problems(parse_spec(data), config, now=NOW)
    assert [p.path for p in problems] == ["consent.text", "items[1].text"]
    assert "would be 221 characters" in problems[1].message


def test_validate_names_the_item_against_the_configured_instance(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_data(), sort_keys=False))
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    with MastodonServer() as server:
        monkeypatch.setenv("MASTODON_API_BASE_URL", server.base_url)
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", server.bot_token)
        code = main(["consultation", "validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: items[0].options: 5 options; mastodon allows at most 4 in a poll" in err

    closes = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    path.write_text(yaml.safe_dump(spec_data(closes_at=closes), sort_keys=False))
    limits._looked_up.clear()
    with MastodonServer(limits=InstanceLimits(max_options=5)) as server:
        monkeypatch.setenv("MASTODON_API_BASE_URL", server.base_url)
        code = main(["consultation", "validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "items[0]: poll 'ease' would run 60.0 days until closes_at" in err
