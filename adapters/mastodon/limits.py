"""The instance's own limits, and the checks a spec must pass before it is posted there.

Mastodon servers choose their own status length and poll limits and advertise them in
``/api/v2/instance`` under ``configuration.statuses`` and ``configuration.polls``
(https://docs.joinmastodon.org/entities/Instance/#configuration). They are read once per
process and kept for a while (:data:`KNOWN_SECONDS`; a failed lookup for
:data:`UNKNOWN_SECONDS`), so no request budget goes on asking again. They are read when a
spec is validated or created (``engage consultation validate/create``, through
:func:`instance_limits`) and again when it is launched, so an error names the item that
does not fit before anything is posted.
"""

from __future__ import annotations

import logging
import math
import time
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


INSTANCE_PATHS = (
    "/api/v2/instance",
    "/api/v2/instance/",
    "/api/v1/instance",
    "/api/v1/instance/",
)
"""Where the instance document is asked for, in order.

``GET /api/v2/instance`` (https://docs.joinmastodon.org/methods/instance/#v2), then the
deprecated ``GET /api/v1/instance`` (https://docs.joinmastodon.org/methods/instance/#v1).
The documented paths have no trailing slash; Mastodon.py adds one, which Mastodon itself
accepts but some other servers answer with 404, so each is tried both ways.
"""

KNOWN_SECONDS = 3600.0
"""How long limits read from the instance are kept before they are read again."""

UNKNOWN_SECONDS = 900.0
"""How long a failed lookup is remembered: no request is spent on it again until then."""


@dataclass(frozen=True)
class Lookup:
    """The outcome of reading an instance's limits, kept per process.

    Attributes:
        config: the instance's limits, or Mastodon's defaults when they are unknown.
        known: whether ``config`` came from the instance.
        reason: why the limits are unknown (``None`` when known).
        at: when the lookup was made (monotonic seconds).
    """

    config: InstanceConfig
    known: bool
    reason: str | None
    at: float

    def fresh(self, now: float) -> bool:
        """Still good at ``now``: failures are kept for less time than successes."""
        keep = KNOWN_SECONDS if self.known else UNKNOWN_SECONDS
        return now - self.at < keep


def fetch_config(client: Mastodon) -> InstanceConfig:
    """The instance's limits (blocking), from the first of :data:`INSTANCE_PATHS` to answer.

    The requests go through the client's own ``requests`` session with its token, not
    through Mastodon.py's ``instance_v2``/``instance_v1``, which insist on a trailing slash.

    Raises:
        LookupError: no path gave an instance document; the message says what each did.
    """
    base = str(client.api_base_url).rstrip("/")
    headers = {"User-Agent": str(client.user_agent)}
    if client.access_token:
        headers["Authorization"] = f"Bearer {client.access_token}"
    timeout = client.request_timeout
    failures: list[str] = []
    for path in INSTANCE_PATHS:
        try:
            response = client.session.get(base + path, headers=headers, timeout=timeout)
        except Exception as exc:  # network failure: the other paths would fail alike
            failures.append(f"{path}: {type(exc).__name__}")
            break
        if response.status_code != 200:
            failures.append(f"{path}: HTTP {response.status_code}")
            if response.status_code in (401, 403, 429) or response.status_code >= 500:
                break
            continue
        try:
            document = response.json()
        except ValueError:
            failures.append(f"{path}: not JSON")
            continue
        if isinstance(document, Mapping):
            return parse_instance(document)
        failures.append(f"{path}: not an instance document")
    raise LookupError("; ".join(failures) or "no answer")


_looked_up: dict[str, Lookup] = {}


def remembered(base_url: str, *, now: float | None = None) -> Lookup | None:
    """The lookup of ``base_url`` made earlier in this process, if still fresh."""
    known = _looked_up.get(base_url)
    if known is None or not known.fresh(time.monotonic() if now is None else now):
        return None
    return known


def remember(base_url: str, config: InstanceConfig | None, reason: str | None = None) -> Lookup:
    """Keep a lookup's outcome (``config`` ``None``: it failed, for ``reason``).

    A failure is said once, as a warning naming the instance, when it is recorded; while
    it is remembered nothing asks again (``validate``, ``launch``, the running adapter),
    so nothing says it again.
    """
    if config is None:
        lookup = Lookup(DEFAULT_CONFIG, False, reason or "unknown", time.monotonic())
        log.warning(
            "mastodon: could not read the limits of %s (%s); they are unknown, so checking "
            "against Mastodon's defaults instead",
            base_url,
            lookup.reason,
        )
    else:
        lookup = Lookup(config, True, None, time.monotonic())
    _looked_up[base_url] = lookup
    return lookup


def instance_config(
    base_url: str | None, access_token: str | None, *, timeout: float = LOOKUP_TIMEOUT
) -> InstanceConfig:
    """The configured instance's limits, or Mastodon's defaults (with one warning).

    Blocking: at most one lookup (:func:`fetch_config`, each request bounded by
    ``timeout``) per process and instance while it is fresh, failures included, so a CLI
    command checks limits and launches from one lookup.
    """
    from adapters.mastodon.api import make_client

    if not (base_url and access_token):
        return DEFAULT_CONFIG
    known = remembered(base_url)
    if known is not None:
        return known.config
    client = make_client(base_url, access_token, timeout=timeout)
    try:
        return remember(base_url, fetch_config(client)).config
    except Exception as exc:
        return remember(base_url, None, str(exc)).config
    finally:
        client.session.close()


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
        check_length(
            f"{path}.text", launch.item_text(item, spec.wording()), f"the post for item '{item.id}'"
        )
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
