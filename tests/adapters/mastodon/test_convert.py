"""Statuses to core events: HTML to text, leading handles removed, public or direct."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.mastodon.convert import event_of, html_to_text, post_of, strip_leading_mentions
from channels.events import EventKind

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def status(content: str, visibility: str = "public", **extra: Any) -> dict[str, Any]:
    return {
        "id": 111,
        "account": {"id": 7, "acct": "Alice@example.social"},
        "visibility": visibility,
        "in_reply_to_id": 100,
        "content": content,
        "created_at": WHEN,
        "mentions": [{"username": "engage", "acct": "engage"}],
        **extra,
    }


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello</p><p>again</p>", "Hello\n\nagain"),
        ("<p>one<br>two<br />three</p>", "one\ntwo\nthree"),
        ("<p>&lt;b&gt; &amp; &quot;quoted&quot;</p>", '<b> & "quoted"'),
        (
            '<p><a href="https://example.org/a/long/path"><span class="invisible">https://'
            '</span><span class="ellipsis">example.org/a/lo</span><span class="invisible">'
            "ng/path</span></a></p>",
            "https://example.org/a/long/path",
        ),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_leading_mentions_are_removed_but_not_other_words() -> None:
    assert strip_leading_mentions("@engage @bob@example.org, yes please") == "yes please"
    assert strip_leading_mentions("@home visits", ["engage"]) == "@home visits"
    assert strip_leading_mentions("@engage STOP", ["engage"]) == "STOP"
    assert strip_leading_mentions("Thanks @engage", ["engage"]) == "Thanks @engage"


def test_a_public_reply_is_public_and_answered_by_direct_message() -> None:
    event = event_of(post_of(status('<p><span class="h-card">@engage</span> More slots</p>')))
    assert event is not None
    assert (event.channel, event.event_id, event.platform_ref) == ("mastodon", "111", "111")
    assert (event.kind, event.text, event.public) == (EventKind.TEXT, "More slots", True)
    assert event.sender == "alice@example.social"
    assert event.in_reply_to == "100"
    assert event.address == {
        "acct": "Alice@example.social",
        "reply_to": "111",
        "visibility": "direct",
    }
    assert event.received_at == WHEN


@pytest.mark.parametrize(("visibility", "public"), [("unlisted", True), ("private", False)])
def test_a_followers_only_reply_is_private_and_an_unlisted_one_public(
    visibility: str, public: bool
) -> None:
    # Followers-only was not said to everyone: never shown on the public page.
    event = event_of(post_of(status("<p>@engage More chairs</p>", visibility=visibility)))
    assert event is not None and event.public is public


def test_a_direct_message_is_private() -> None:
    event = event_of(post_of(status("<p>@engage 2</p>", visibility="direct")))
    assert event is not None
    assert (event.public, event.text) == (False, "2")


def test_a_direct_message_of_a_picture_alone_is_unreadable_and_with_words_text() -> None:
    picture = {"media_attachments": [{"id": "9", "type": "image"}]}
    alone = event_of(post_of(status("<p>@engage</p>", visibility="direct", **picture)))
    assert alone is not None and (alone.kind, alone.text) == (EventKind.UNREADABLE, None)
    worded = event_of(post_of(status("<p>@engage Broken lift</p>", "direct", **picture)))
    assert worded is not None and (worded.kind, worded.text) == (EventKind.TEXT, "Broken lift")
    # In public, a picture with no words asks nothing of the core, as handles alone.
    assert event_of(post_of(status("<p>@engage</p>", **picture))) is None


def test_a_public_status_of_handles_only_is_not_an_event() -> None:
    assert event_of(post_of(status("<p>@engage</p>"))) is None


def test_poll_tallies_are_read_by_label() -> None:
    post = post_of(
        status(
            "<p>Q</p>",
            poll={
                "id": 9,
                "expired": False,
                "voters_count": 3,
                "options": [{"title": "Yes", "votes_count": 2}, {"title": "No", "votes_count": 1}],
            },
        )
    )
    assert post.poll is not None
    assert (post.poll.id, post.poll.by_label(), post.poll.voters) == ("9", {"Yes": 2, "No": 1}, 3)


def test_ids_sort_in_time_order_whatever_the_server() -> None:
    from adapters.mastodon.intake import _order

    numeric = ["109", "1100000000000000001", "99", "110000000000000000"]
    assert sorted(numeric, key=_order) == [
        "99",
        "109",
        "110000000000000000",
        "1100000000000000001",
    ]
    # GoToSocial's ids are ULIDs: fixed length, sortable as text.
    ulids = [
        "01HQZ8M2B7A3T1V5R9X0KPN4CD",
        "01HQZ8M2A0000000000000000A",
        "01HR00000000000000000000ZZ",
    ]
    assert sorted(ulids, key=_order) == sorted(ulids)
