"""The built-in words fit Telegram's and Mastodon's limits in every shipped language.

Each platform counts its own way (Telegram in UTF-16 units, Mastodon with links at 23
characters), so each is measured with the adapter's own counter against the limits in
its ``limits.py``.
"""

from __future__ import annotations

import pytest

from adapters.mastodon import render as mastodon_render
from adapters.mastodon.limits import DEFAULT_CONFIG, MASTODON_DEFAULT_LIMITS, launch_problems
from adapters.plumbing import launch
from adapters.telegram import render as telegram_render
from adapters.telegram.limits import TELEGRAM_LIMITS
from channels.events import OutboundMessage
from consultations import screening
from consultations.spec import SafetySettings, parse_spec
from consultations.texts import BUILTIN, available_languages, texts_for
from tests.helpers import spec_data

LANGUAGES = available_languages()
#: Room kept in a Mastodon reply for the mention that starts it (``@name@server ``).
MENTION_ROOM = 64
#: Texts shown as button labels or poll options.
LABELS = ("consent_yes", "consent_no", "recontact_yes", "recontact_no", "erase_yes", "erase_no")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_fits_one_telegram_message_and_one_mastodon_reply(language: str) -> None:
    texts = texts_for(language)
    status_room = MASTODON_DEFAULT_LIMITS.text_max - MENTION_ROOM
    for key in BUILTIN:
        words = texts(key, title="x" * 40, organisation="x" * 40, date="30 x 2026", id="x" * 64)
        assert telegram_render.utf16_len(words) <= TELEGRAM_LIMITS.text_max, key
        assert mastodon_render.status_length(words) <= status_room, (language, key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_labels_fit_telegram_poll_options_and_the_reply_placeholder(language: str) -> None:
    texts = texts_for(language)
    for key in LABELS:
        assert 1 <= telegram_render.utf16_len(texts(key)) <= TELEGRAM_LIMITS.poll_option_max, key
    placeholder = telegram_render.force_reply(language).input_field_placeholder
    assert placeholder == texts("answer_placeholder")
    assert placeholder is not None and telegram_render.utf16_len(placeholder) <= 64


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("region", ["AU", "UK", "US"])
def test_safety_replies_fit_as_platforms_need_them(language: str, region: str) -> None:
    texts = texts_for(language)
    settings = SafetySettings(region=region)  # type: ignore[arg-type]
    message = screening.safety_message(settings, "Example Health Service", texts)
    assert telegram_render.utf16_len(message) <= TELEGRAM_LIMITS.text_max
    # Mastodon: the shortest form, sent when nothing longer gets through, is one status;
    # the public note is one status too.
    shortest = mastodon_render.safety_shortest(message, language)
    assert shortest.startswith(texts("safety_help_now"))
    room = MASTODON_DEFAULT_LIMITS.text_max - MENTION_ROOM
    assert mastodon_render.status_length(shortest) <= room
    assert mastodon_render.status_length(screening.general_note(settings, texts)) <= room


@pytest.mark.parametrize("language", LANGUAGES)
def test_launch_posts_of_the_example_fit_a_stock_mastodon_server(language: str) -> None:
    spec = parse_spec(spec_data(language=language))
    assert launch_problems(spec, DEFAULT_CONFIG) == []
    intro = launch.intro_text(spec)
    assert texts_for(language)("launch_how_to_leave") in intro
    assert telegram_render.utf16_len(intro) <= TELEGRAM_LIMITS.text_max


@pytest.mark.parametrize("language", LANGUAGES)
def test_numbered_options_are_explained_in_the_language(language: str) -> None:
    texts = texts_for(language)
    one = OutboundMessage(text="Q", options=("A", "B"), language=language)
    several = OutboundMessage(text="Q", options=("A", "B"), multiple=True, language=language)
    assert mastodon_render.message_text(one).endswith(texts("reply_with_number"))
    assert mastodon_render.message_text(several).endswith(texts("reply_with_numbers"))
