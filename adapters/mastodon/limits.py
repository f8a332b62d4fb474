"""The instance's own limits, and the checks a spec must pass before it is posted there.

Mastodon servers choose their own status length and poll limits and advertise them in
``/api/v2/instance`` under ``configuration.statuses`` and ``configuration.polls``
(https://docs.joinmastodon.org/entities/Instance/#configuration). They are read when a
spec is validated or created (``engage consultation validate/create``, through
:func:`instance_limits`) and again when it is launched, so an error names the item that
does not fit before anything is posted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.mastodon import render
from adapters.plumbing import launch
from consultations.spec import (
    ChannelLimits,
    ConsultationSpec,
    Problem,
    SpecError,
    parse_spec,
)

if TYPE_CHECKING:
    from mastodon import Mastodon

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 10.0
"""Seconds allowed for the instance lookup made by the CLI."""

MASTODON_DEFAULT_LIMITS = ChannelLimits(
    "mastodon",
    # A stock Mastodon server: 500-character statuses; polls of 2-4 options of at most
    # 50 characters. Servers may differ: the real values are in /api/v2/instance
    # (configuration.statuses and configuration.polls).
    text_max=500,
    poll_question_max=500,
    poll_options_min=2,
    poll_options_max=4,
    poll_option_max=50,
)
"""Limits of a Mastodon server with the default configuration."""


@dataclass(frozen=True)
class InstanceConfig:
    """What one Mastodon server allows in a status and a poll.

    The defaults are a stock Mastodon server's
    (https://docs.joinmastodon.org/entities/Instance/#configuration).
    """

    max_characters: int = MASTODON_DEFAULT_LIMITS.text_max
    characters_reserved_per_url: int = 23
    max_options: int = MASTODON_DEFAULT_LIMITS.poll_options_max
    max_characters_per_option: int = MASTODON_DEFAULT_LIMITS.poll_option_max
    min_expiration: int = 300
    max_expiration: int = 2_629_746

    def channel_limits(self) -> ChannelLimits:
        """The limits in the form the spec checker takes."""
        return ChannelLimits(
            "mastodon",
            text_max=self.max_characters,
            # A poll's question is the text of its status.
            poll_question_max=self.max_characters,
            poll_options_min=2,
            poll_options_max=self.max_options,
            poll_option_max=self.max_characters_per_option,
        )


DEFAULT_CONFIG = InstanceConfig()


def parse_instance(document: Mapping[str, Any]) -> InstanceConfig:
    """Read the limits from an ``/api/v2/instance`` (or v1) document; defaults fill gaps.

    Forks and older servers leave parts out or use other shapes: anything missing or not
    a positive number keeps Mastodon's default.
    """
    configuration = _mapping(document.get("configuration"))
    statuses = _mapping(configuration.get("statuses"))
    polls = _mapping(configuration.get("polls"))
    if not statuses and "max_toot_chars" in document:  # Pleroma/Akkoma-style v1 documents
        statuses = {"max_characters": document["max_toot_chars"]}
    base = DEFAULT_CONFIG
    return InstanceConfig(
        max_characters=_positive(statuses.get("max_characters"), base.max_characters),
        characters_reserved_per_url=_positive(
            statuses.get("characters_reserved_per_url"), base.characters_reserved_per_url
        ),
        max_options=_positive(polls.get("max_options"), base.max_options),
        max_characters_per_option=_positive(
            polls.get("max_characters_per_option"), base.max_characters_per_option
        ),
        min_expiration=_positive(polls.get("min_expiration"), base.min_expiration),
        max_expiration=_positive(polls.get("max_expiration"), base.max_expiration),
    )


def fetch_config(client: Mastodon) -> InstanceConfig:
    """The instance's limits (blocking): ``/api/v2/instance``, else the v1 document."""
    try:
        document: Mapping[str, Any] = client.instance_v2()
    except Exception as first:
        log.debug("mastodon: /api/v2/instance failed (%s); trying /api/v1/instance", first)
        document = client.instance_v1()
    return parse_instance(document)


_looked_up: dict[str, InstanceConfig] = {}


def instance_config(
    base_url: str | None, access_token: str | None, *, timeout: float = LOOKUP_TIMEOUT
) -> InstanceConfig:
    """The configured instance's limits, or Mastodon's defaults (with a warning) if unreachable.

    Blocking: one HTTP request, bounded by ``timeout``, made once per process and instance
    (a CLI command checks limits and the launch posts from one lookup).
    """
    from adapters.mastodon.api import make_client

    if not (base_url and access_token):
        return DEFAULT_CONFIG
    known = _looked_up.get(base_url)
    if known is not None:
        return known
    client = make_client(base_url, access_token, timeout=timeout)
    try:
        config = fetch_config(client)
    except Exception as exc:
        log.warning(
            "mastodon: could not read the limits of %s (%s); checking against Mastodon's "
            "defaults instead",
            base_url,
            exc,
        )
        return DEFAULT_CONFIG
    finally:
        client.session.close()
    _looked_up[base_url] = config
    return config


def instance_limits(base_url: str | None, access_token: str | None) -> ChannelLimits:
    """The configured instance's limits for the spec checker (blocking, with a timeout).

    Falls back to :data:`MASTODON_DEFAULT_LIMITS`, with a warning, when
    the instance cannot be reached.
    """
    return instance_config(base_url, access_token).channel_limits()


def settings_problems(
    spec: ConsultationSpec, base_url: str | None, access_token: str | None
) -> list[Problem]:
    """:func:`launch_problems` against the configured instance (blocking, CLI use).

    Nothing when Mastodon is not configured: without an instance, only the plain default
    limits can be checked, and the spec checker does that.
    """
    if not (base_url and access_token) or "mastodon" not in spec.channels:
        return []
    return launch_problems(spec, instance_config(base_url, access_token))


def poll_duration(spec: ConsultationSpec, config: InstanceConfig, now: datetime) -> int:
    """Seconds a launch poll stays open: until ``closes_at``, else as long as allowed.

    Mastodon polls cannot be ended early (there is no API for it), so a poll of a
    consultation without a closing time runs for the longest time the instance allows.
    """
    if spec.closes_at is None:
        return config.max_expiration
    return math.ceil((spec.closes_at - now).total_seconds())


def launch_problems(
    spec: ConsultationSpec, config: InstanceConfig, *, now: datetime | None = None
) -> list[Problem]:
    """What stops this spec from being posted as it would be, beyond the plain limits.

    The posts carry more than the spec's texts (the introduction adds the title and how
    to leave; prompts add how to answer), and polls must expire within the instance's
    bounds. Each problem names the field or item that does not fit.
    """
    if "mastodon" not in spec.channels:
        return []
    now = now or datetime.now(UTC)
    problems: list[Problem] = []
    limit = config.max_characters

    def check_length(path: str, text: str, what: str) -> None:
        length = render.status_length(text, url_length=config.characters_reserved_per_url)
        if length > limit:
            problems.append(
                Problem(
                    path,
                    f"{what} would be {length} characters; this Mastodon instance allows at "
                    f"most {limit} (shorten it by {length - limit})",
                )
            )

    check_length("consent.text", launch.intro_text(spec), "the introduction post with this text")
    duration = poll_duration(spec, config, now)
    for index, item in enumerate(spec.items):
        path = f"items[{index}]"
        check_length(f"{path}.text", launch.item_text(item), f"the post for item '{item.id}'")
        if item.type != "poll":
            continue
        if duration < config.min_expiration:
            problems.append(
                Problem(
                    path,
                    f"poll '{item.id}' would close in {_span(duration)} (closes_at); Mastodon "
                    f"polls on this instance must run at least {_span(config.min_expiration)}",
                )
            )
        elif duration > config.max_expiration:
            problems.append(
                Problem(
                    path,
                    f"poll '{item.id}' would run {_span(duration)} until closes_at; Mastodon "
                    f"polls on this instance run at most {_span(config.max_expiration)}",
                )
            )
    return problems


def check_spec(
    spec: ConsultationSpec, config: InstanceConfig, *, now: datetime | None = None
) -> list[Problem]:
    """Every reason this spec cannot be posted on the instance: plain limits, then the rest."""
    if "mastodon" not in spec.channels:
        return []
    try:
        parse_spec(spec.to_dict(), limits={"mastodon": config.channel_limits()})
    except SpecError as exc:
        return list(exc.problems)
    return launch_problems(spec, config, now=now)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _positive(value: object, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    return number if number > 0 else default


def _span(seconds: int) -> str:
    if seconds <= 0:
        return "no time (closes_at has passed)"
    if seconds <= 3600:
        return f"{math.ceil(seconds / 60)} minutes"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86_400:.1f} days"
