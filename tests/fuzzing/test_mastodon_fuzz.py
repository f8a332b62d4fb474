"""Fuzzing the Mastodon edge: any status or notification the server sends converts.

Statuses reach :mod:`adapters.mastodon.convert` from the streaming API, from polled
notifications and from thread contexts. They are shaped like the documented entities
(https://docs.joinmastodon.org/entities/Status/, .../Notification/), but any field can be
missing, null, of another type or odd in value (another server's software, a newer
version, a half-parsed date). :func:`post_of` must always read one into a
:class:`~adapters.mastodon.convert.Post`, and :func:`event_of` must give an event or
``None``: one odd status raising there would fail every intake round that meets it, and
the notifications after it would never be read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.mastodon.convert import (
    PUBLIC_VISIBILITIES,
    Post,
    address_of,
    event_of,
    html_to_text,
    post_of,
    sender_of,
    strip_leading_mentions,
)
from channels.events import EventKind, InboundEvent

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the documented shape, sometimes anything."""
    return st.one_of(strategy, strategy, strategy, junk)


ids = st.one_of(
    st.integers(min_value=0, max_value=2**63).map(str),
    st.integers(min_value=0),
    st.text(max_size=8),
)
html = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br>",
                "<br />",
                '<span class="h-card">',
                "</span>",
                '<a href="https://example.org/@engage">',
                "</a>",
                "@engage ",
                "@alice@example.org, ",
                "&amp;",
                "&#0;",
                "&#x110000;",
                "&bogus;",
                "<",
                "<!--",
                "<![CDATA[",
                "STOP",
                "start outpatient-booking",
                "2",
                "\u0000",
                "\ud800",
                " ",
                "\n",
            ]
        ),
        max_size=12,
    ).map("".join),
)
moments = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]) | st.none()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-12-01T09:00:00.000Z", "2026-13-01T00:00:00Z", "yesterday", ""]),
)
accounts = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(ids),
        "acct": maybe(st.sampled_from(["alice", "Bob@Example.org", "engage", ""])),
        "username": maybe(st.text(max_size=10)),
    },
)
mentions = st.lists(
    maybe(st.fixed_dictionaries({}, optional={"username": junk, "acct": junk})), max_size=3
)
polls = st.fixed_dictionaries(
    {"id": ids},
    optional={
        "options": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "title": maybe(st.text(max_size=10)),
                            "votes_count": maybe(st.integers(min_value=0) | st.none()),
                        },
                    )
                ),
                max_size=4,
            )
        ),
        "voters_count": maybe(st.integers(min_value=0) | st.none()),
        "expired": maybe(st.booleans()),
    },
)
statuses = st.fixed_dictionaries(
    {"id": ids},
    optional={
        "account": maybe(accounts),
        "visibility": maybe(st.sampled_from(["public", "unlisted", "private", "direct"])),
        "in_reply_to_id": maybe(ids | st.none()),
        "content": maybe(html),
        "created_at": maybe(moments),
        "mentions": maybe(mentions),
        "poll": maybe(polls | st.none()),
    },
)
notifications = st.fixed_dictionaries(
    {"id": ids, "type": maybe(st.sampled_from(["mention", "poll", "favourite", "follow"]))},
    optional={"status": maybe(statuses | st.none()), "created_at": maybe(moments)},
)


def _converted(status: dict[str, Any]) -> Post:
    post = post_of(status)
    assert isinstance(post.id, str) and post.id == str(status["id"])
    assert isinstance(post.text, str)
    assert post.created_at.tzinfo is not None
    assert isinstance(sender_of(post), str)
    assert address_of(post)["visibility"] == "direct"  # people are answered privately
    for kind in (EventKind.TEXT, EventKind.START):
        event = event_of(post, kind=kind, consultation_id="outpatient-booking")
        assert event is None or isinstance(event, InboundEvent)
        if event is not None:
            # Public only where anyone may read it: followers-only and direct are private.
            public = post.visibility in PUBLIC_VISIBILITIES
            assert event.event_id == post.id and event.public is public
            assert not (post.direct and event.public)
    if post.poll is not None:
        assert all(isinstance(n, int) for n in post.poll.by_label().values())
    return post


@given(statuses)
def test_any_status_converts(status: dict[str, Any]) -> None:
    _converted(status)


@given(notifications)
def test_any_notification_status_converts(note: dict[str, Any]) -> None:
    status = note.get("status")
    if isinstance(status, dict) and "id" in status:
        _converted(status)


@given(html, st.lists(st.text(max_size=10), max_size=3) | st.none())
def test_any_content_gives_text(content: str, handles: list[str] | None) -> None:
    text = strip_leading_mentions(html_to_text(content), handles)
    assert isinstance(text, str) and text == text.strip()


def test_a_naive_or_unreadable_date_is_taken_as_now() -> None:
    before = datetime.now(UTC)
    for created in ("yesterday", "2026-13-01T00:00:00Z", 17, None):
        post = post_of({"id": "1", "created_at": created})
        assert post.created_at >= before
